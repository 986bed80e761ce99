"""Person names: width folding, spaces, traditional→simplified, minority-name separators, pinyin."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc  # the official OpenCC binding (BYVoid/OpenCC), ships manylinux wheels
from pypinyin import Style, lazy_pinyin

from aidlink.gateway.normalize.characters import fold_width, strip_spaces
from aidlink.gateway.normalize.issues import InvalidField
from aidlink.gateway.normalize.surnames import split_surname, surname_reading

FIELD = "name"
SEPARATOR = "\u00b7"  # MIDDLE DOT, the separator GB 18030 / public-security practice uses

# Characters written in place of the middle dot between parts of ethnic-minority and
# foreign names; checked after NFKC folding (which already maps U+FF0E→".", U+FF65→U+30FB,
# U+FF61→U+3002, U+0387→U+00B7, U+2024/U+FE52→".").
SEPARATOR_VARIANTS = frozenset("\u00b7\u30fb\u2022\u002e\u3002\u2027\u2219\u22c5\u16eb\u2e31\ua78f\u25cf\u318d\u02d1")
_SEPARATOR_RUN = re.compile("\u00b7+")


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese characters (OpenCC t2s)."""
    return _t2s().convert(text)


def unify_separators(text: str) -> str:
    """Every minority-name separator variant → one U+00B7; runs collapse, ends are trimmed."""
    unified = "".join(SEPARATOR if ch in SEPARATOR_VARIANTS else ch for ch in text)
    return _SEPARATOR_RUN.sub(SEPARATOR, unified).strip(SEPARATOR)


def normalize_name(value: str) -> str:
    """Normalize a person's name or raise InvalidField (empty, digits, symbols)."""
    raw = value
    name = unify_separators(strip_spaces(fold_width(value)))
    if not name:
        raise InvalidField(FIELD, raw, "is empty")
    digits = [ch for ch in name if unicodedata.category(ch) == "Nd" or ch.isdigit()]
    if digits:
        raise InvalidField(FIELD, raw, f"contains digits ({''.join(digits)})")
    for ch in name:
        if ch != SEPARATOR and unicodedata.category(ch)[0] not in "LM":
            raise InvalidField(FIELD, raw, f"contains {ch!r} (U+{ord(ch):04X}), not allowed in a name")
    return to_simplified(name).upper()


@lru_cache(maxsize=1 << 16)  # full names repeat a lot: pypinyin is the costliest normalization step
def name_pinyin(name: str) -> str:
    """Tone-less pinyin syllables joined by single spaces, with surname readings for Han names.

    Expects a normalized name; separators are dropped, Latin parts are lower-cased.
    """
    if not name:
        return ""
    parts = [part for part in name.split(SEPARATOR) if part]
    syllables: list[str] = []
    if len(parts) == 1 and len(parts[0]) >= 2 and _is_han(parts[0][0]):
        surname, given = split_surname(parts[0])
        reading = surname_reading(surname)
        syllables.extend(reading.split() if reading else _syllables(surname))
        syllables.extend(_syllables(given))
    else:
        for part in parts:
            syllables.extend(_syllables(part))
    return " ".join(syllables)


@lru_cache(maxsize=1 << 16)  # given names repeat far more than full names do
def _syllables(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for token in lazy_pinyin(text, style=Style.NORMAL, errors="default"):
        out.extend(token.lower().split())
    return tuple(out)


def _is_han(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK")
