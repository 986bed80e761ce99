"""Sex codes (GB/T 2261.1-2003): 0 unknown, 1 male, 2 female, 9 unspecified."""

from __future__ import annotations

from aidlink.gateway.normalize.characters import fold_width, strip_spaces
from aidlink.gateway.normalize.issues import InvalidField

FIELD = "sex"
MALE, FEMALE, UNKNOWN = "1", "2", ""

_CODES: dict[str, str] = {
    "1": MALE,
    "男": MALE,
    "男性": MALE,
    "M": MALE,
    "MALE": MALE,
    "2": FEMALE,
    "女": FEMALE,
    "女性": FEMALE,
    "F": FEMALE,
    "FEMALE": FEMALE,
    "0": UNKNOWN,
    "未知": UNKNOWN,
    "未知的性别": UNKNOWN,
    "U": UNKNOWN,
    "UNKNOWN": UNKNOWN,
    "9": UNKNOWN,
    "未说明": UNKNOWN,
    "未说明的性别": UNKNOWN,
}


def normalize_sex(value: str) -> str:
    """Return "1" (male), "2" (female) or "" (unknown/unspecified/empty); raise on anything else."""
    key = strip_spaces(fold_width(value)).upper()
    if not key:
        return UNKNOWN
    try:
        return _CODES[key]
    except KeyError:
        raise InvalidField(
            FIELD, value, "not a recognised sex code (use 男/女, M/F, male/female or GB/T 2261.1 codes 0/1/2/9)"
        ) from None
