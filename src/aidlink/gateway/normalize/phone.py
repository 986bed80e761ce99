"""Phone numbers: mainland mobile numbers → 11 digits; landlines → area code + number digits."""

from __future__ import annotations

import re

from aidlink.gateway.normalize.characters import fold_width, strip_spaces
from aidlink.gateway.normalize.issues import InvalidField

FIELD = "phone"

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Area codes: 010, 02X (3 digits) or 0[3-9]XX (4 digits); subscriber numbers 7-8 digits.
_LANDLINE = re.compile(r"0(?:10|2\d)[2-9]\d{7}|0[3-9]\d{2}[2-9]\d{6,7}")
_PUNCTUATION = re.compile(r"[-()（）.]")
_COUNTRY_PREFIX = re.compile(r"^(?:\+86|0086|86(?=1[3-9]\d{9}$))")


def normalize_phone(value: str) -> str:
    """Normalize a phone number to digits; "" for an empty value; raise InvalidField on garbage."""
    raw = value
    text = _PUNCTUATION.sub("", strip_spaces(fold_width(value)))
    if not text:
        return ""
    international = text.startswith(("+86", "0086"))
    text = _COUNTRY_PREFIX.sub("", text)
    if not text.isascii() or not text.isdigit():
        raise InvalidField(
            FIELD, raw, "contains characters other than digits, spaces, dashes, brackets and a +86 prefix"
        )
    if international and not text.startswith(("0", "1")):
        text = "0" + text  # +86 515 8888 8888: the trunk 0 of the area code is dropped abroad
    if _MOBILE.fullmatch(text) or _LANDLINE.fullmatch(text):
        return text
    raise InvalidField(
        FIELD, raw, f"{len(text)} digits is neither an 11-digit mobile number (1[3-9]…) nor area code + landline number"
    )
