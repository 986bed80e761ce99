"""Dates (birth dates): the common written forms → "YYYYMMDD".

Beside Arabic-digit forms: the year, month and day written in Chinese numerals
(一九八〇年一月二日, 二〇〇五年十二月三十一日; 〇, ○ or 零 for zero) and Excel serial day
numbers, which a spreadsheet saved as CSV writes for a date cell (29221 is 1980-01-01). A
serial is read only as a five-digit whole number from 10000 (1927-05-18) to 73050
(2099-12-31): a shorter number is more likely a year or a typo than a date, and an 8-digit
YYYYMMDD is never a serial. The date it names must then pass the same checks as any other
(not in the future).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from aidlink.gateway.normalize.characters import fold_width, strip_spaces
from aidlink.gateway.normalize.issues import InvalidField

EARLIEST_YEAR = 1900

_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SEPARATED = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_CHINESE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?")
_CHINESE_DIGITS = "〇○零一二三四五六七八九"
_CHINESE_NUMERALS = re.compile(
    r"([〇○零一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,4})[日号]?"
)
_DIGIT_VALUE = {c: max(0, i - 2) for i, c in enumerate(_CHINESE_DIGITS)}
_EXCEL_SERIAL = re.compile(r"(\d{5})(?:\.0+)?")
EXCEL_EPOCH = date(1899, 12, 30)  # from serial 61 on: Excel counts a 1900-02-29 that never was
EXCEL_SERIALS = range(10000, 73051)  # 1927-05-18 .. 2099-12-31
_MIDNIGHT = re.compile(r"(?:\s+|T)0{1,2}:00(?::00(?:\.0+)?)?$")  # spreadsheet exports: "1985-03-07 00:00:00"

ACCEPTED_FORMS = (
    "YYYYMMDD, YYYY-MM-DD, YYYY/M/D, YYYY.M.D, YYYY年M月D日 (Arabic or Chinese numerals) or an Excel serial day number"
)


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
    found = _CHINESE_NUMERALS.fullmatch(text)
    if found:
        year = int("".join(str(_DIGIT_VALUE[c]) for c in found[1]))
        month, day = _chinese_number(found[2]), _chinese_number(found[3])
        return None if month is None or day is None else (year, month, day)
    found = _EXCEL_SERIAL.fullmatch(text)
    if found and int(found[1]) in EXCEL_SERIALS:
        serial = EXCEL_EPOCH + timedelta(days=int(found[1]))
        return serial.year, serial.month, serial.day
    return None


def _chinese_number(text: str) -> int | None:
    """一 .. 三十一 (十, 十二, 二十, 二十三): a month or day in Chinese numerals; None if malformed."""
    tens, ten, ones = text.partition("十")
    if not ten:
        return _DIGIT_VALUE[text] or None if len(text) == 1 else None
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    return (_DIGIT_VALUE[tens] if tens else 1) * 10 + (_DIGIT_VALUE[ones] if ones else 0)
