"""The fixed vocabulary of declared purposes (Art. 4, Art. 22)."""

from __future__ import annotations

from aidlink.v1 import common_pb2

BY_NAME: dict[str, common_pb2.Purpose] = {
    "eligibility-check": common_pb2.ELIGIBILITY_CHECK,
    "policy-delivery-check": common_pb2.POLICY_DELIVERY_CHECK,
    "risk-monitoring": common_pb2.RISK_MONITORING,
    "referral": common_pb2.REFERRAL,
    "data-correction": common_pb2.DATA_CORRECTION,
}
PURPOSES: dict[int, str] = {value: name for name, value in BY_NAME.items()}


def purpose_name(value: int) -> str:
    """The purpose's name; raises ValueError for an unset or unknown purpose."""
    try:
        return PURPOSES[value]
    except KeyError:
        raise ValueError("a declared purpose is required: one of " + ", ".join(PURPOSES.values())) from None


def purpose_value(name: str) -> common_pb2.Purpose:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown purpose {name!r}: expected one of {', '.join(BY_NAME)}") from None
