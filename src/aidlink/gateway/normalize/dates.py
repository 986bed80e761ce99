"""Dates (birth dates): the common written forms → "YYYYMMDD"."""

from __future__ import annotations

import re
from datetime import date

from aidlink.gateway.normalize.characters import fold_width, strip_spaces
from aidlink.gateway.normalize.issues import InvalidField

EARLIEST_YEAR = 1900

_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SEPARATED = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_CHINESE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?")
_MIDNIGHT = re.compile(r"(?:\s+|T)0{1,2}:00(?::00(?:\.0+)?)?$")  # spreadsheet exports: "1985-03-07 00:00:00"

ACCEPTED_FORMS = "YYYYMMDD, YYYY-MM-DD, YYYY/M/D, YYYY.M.D or YYYY年M月D日"


def parse_date(value: str, *, field: str = "birth_date", today: date | None = None) -> date:
    """Parse one of the accepted forms (full-width digits allowed); reject impossible or future dates."""
    raw = value
    text = strip_spaces(_MIDNIGHT.sub("", fold_width(value).strip()))
    if not text:
        raise InvalidField(field, raw, "is empty")
    parts = _match(text)
    if parts is None:
        raise InvalidField(field, raw, f"not a recognised date (use {ACCEPTED_FORMS})")
    year, month, day = parts
    try:
        parsed = date(year, month, day)
    except ValueError:
        raise InvalidField(field, raw, f"impossible date: {year:04d}-{month:02d}-{day:02d} does not exist") from None
    if year < EARLIEST_YEAR:
        raise InvalidField(field, raw, f"impossible date: year {year} is before {EARLIEST_YEAR}")
    reference = today or date.today()
    if parsed > reference:
        raise InvalidField(field, raw, f"date {parsed.isoformat()} is in the future (today is {reference.isoformat()})")
    return parsed


def normalize_date(value: str, *, field: str = "birth_date", today: date | None = None) -> str:
    """Normalize a date to "YYYYMMDD"; see parse_date for what is rejected."""
    return parse_date(value, field=field, today=today).strftime("%Y%m%d")


def _match(text: str) -> tuple[int, int, int] | None:
    for pattern in (_COMPACT, _CHINESE):
        found = pattern.fullmatch(text)
        if found:
            return int(found[1]), int(found[2]), int(found[3])
    found = _SEPARATED.fullmatch(text)
    if found:
        return int(found[1]), int(found[3]), int(found[4])
    return None
