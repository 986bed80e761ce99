"""Resident identity numbers (GB 11643-1999): cleaning, 15→18 upgrade, check character."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date

from aidlink.gateway.normalize.characters import fold_width, strip_spaces
from aidlink.gateway.normalize.issues import InvalidField

FIELD = "id_number"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1900


class CheckCharacterMismatch(InvalidField):
    """An 18-character ID of the right shape whose check character is wrong (a typo somewhere).

    ``number`` is the cleaned ID as written, so a caller may keep it for approximate matching.
    """

    def __init__(self, raw: str, number: str, expected: str) -> None:
        self.number = number
        self.expected = expected
        super().__init__(FIELD, raw, f"bad check character: expected {expected}, got {number[17]}")


@dataclass(frozen=True)
class ResidentId:
    """A valid 18-character resident ID and what it encodes."""

    number: str
    division_code: str
    birth_date: date
    sex: str  # "1" male, "2" female (GB/T 2261.1)
    upgraded_from_legacy: bool = False

    @property
    def birth_date_text(self) -> str:
        return self.birth_date.strftime("%Y%m%d")


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"need exactly 17 ASCII digits, got {first17!r}")
    total = sum(map(operator.mul, map(int, first17), WEIGHTS))
    return CHECK_CHARACTERS[total % 11]


def upgrade_legacy(id15: str) -> str:
    """Turn a 15-digit (pre-1999) ID into its 18-character form: insert "19", add check."""
    if len(id15) != 15 or not id15.isascii() or not id15.isdigit():
        raise ValueError(f"a legacy ID is 15 ASCII digits, got {id15!r}")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + check_character(first17)


def clean_resident_id(value: str) -> str:
    """Fold full-width characters, drop spaces, upper-case the check character."""
    return strip_spaces(fold_width(value)).upper()


def normalize_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """Validate and normalize an ID number; raise InvalidField naming the reason."""
    raw = value
    number = clean_resident_id(value)
    if not number:
        raise InvalidField(FIELD, raw, "is empty")
    if len(number) not in (15, 18):
        raise InvalidField(FIELD, raw, f"wrong length: {len(number)} characters (expected 18, or 15 for a legacy ID)")
    legacy = len(number) == 15
    body = number if legacy else number[:17]
    if not (body.isascii() and body.isdigit()):
        bad = next(ch for ch in body if not (ch.isascii() and ch.isdigit()))
        raise InvalidField(FIELD, raw, f"non-digit character {bad!r} where a digit is required")
    if legacy:
        number = upgrade_legacy(number)
    else:
        got = number[17]
        if not (got.isdigit() and got.isascii()) and got != "X":
            raise InvalidField(FIELD, raw, f"check character {got!r} is neither a digit nor X")
        expected = check_character(body)
        if got != expected:
            raise CheckCharacterMismatch(raw, number, expected)
    birth = _birth_date(number, raw, today or date.today())
    sex = "1" if int(number[16]) % 2 == 1 else "2"
    return ResidentId(number, number[:6], birth, sex, upgraded_from_legacy=legacy)


def _birth_date(number: str, raw: str, today: date) -> date:
    digits = number[6:14]
    try:
        birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise InvalidField(FIELD, raw, f"impossible birth date {digits}") from None
    if birth.year < EARLIEST_BIRTH_YEAR:
        raise InvalidField(FIELD, raw, f"impossible birth date {digits} (before {EARLIEST_BIRTH_YEAR})")
    if birth > today:
        raise InvalidField(FIELD, raw, f"impossible birth date {digits} (in the future)")
    return birth
