"""Character-width folding shared by the field rules."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def fold_width(value: str) -> str:
    """NFKC-fold full-width letters, digits and punctuation to their ASCII forms."""
    return unicodedata.normalize("NFKC", value)


def strip_spaces(value: str) -> str:
    """Remove every whitespace character (ASCII, ideographic U+3000, NBSP …)."""
    return _WHITESPACE.sub("", value)
