"""Domain refusals, each with the gRPC status it is answered with (`status`). Servicers raise
them; the error-mapping interceptor (matcher.error_mapping) answers them, once for every service."""

from __future__ import annotations


class Refused(Exception):
    """A call the matcher will not carry out, with a message a person can act on."""

    status = "FAILED_PRECONDITION"


class InvalidInput(Refused):
    status = "INVALID_ARGUMENT"


class NotFound(Refused):
    status = "NOT_FOUND"


class NotPermitted(Refused):
    status = "PERMISSION_DENIED"


class Incompatible(Refused):
    """Encodings that must not be compared (secret version, schema or length differ)."""

    status = "FAILED_PRECONDITION"


class NothingAdmitted(Refused):
    """An agreement's record filter admits none of the provider's records, or filters on an
    attribute the provider never uploaded: said, never answered as an empty result."""

    status = "FAILED_PRECONDITION"


class TooLarge(Refused):
    status = "RESOURCE_EXHAUSTED"


class PolicyRefusal(Refused):
    """A call the policy gate refuses; `rule` names the rule, and the message starts with it."""

    rule = "policy"

    def __init__(self, message: str, agreement: str = "") -> None:
        super().__init__(message)
        self.agreement = agreement  # the agreement whose limit it is, for the audit entry


class BelowThresholdFloor(PolicyRefusal, InvalidInput):
    rule = "threshold floor"


class ProbeRefused(PolicyRefusal, InvalidInput):
    """An encoding no record under the schema could have produced (a probe, not a person)."""

    rule = "probe refused"


class PurposeRefused(PolicyRefusal, NotPermitted):
    rule = "purpose"


class VolumeLimitExceeded(PolicyRefusal):
    """The call would reveal more of a provider's records than its agreement allows."""

    rule = "volume limit"
    status = "RESOURCE_EXHAUSTED"
