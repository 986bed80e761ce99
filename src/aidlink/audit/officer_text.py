"""Text shown to security officers, made safe to show: what a caller wrote (a dataset name, a
reason, a refusal message quoting a request) must not be able to forge or hide what an officer's
terminal shows.

:func:`escape_for_officer` is the one escaping function every officer-facing output uses
(``aidlink audit tail|query|report|verify``): control characters (C0 and C1, ESC and ANSI
sequences, newlines, carriage returns, DEL), Unicode line and paragraph separators and bidi
formatting characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) are shown as
``\\uXXXX``. The same escape is valid inside a JSON string for the same character, so JSON
output stays valid JSON that decodes to the stored text. :func:`unsafe_characters` is the same
rule for refusing such names at upload.
"""

from __future__ import annotations

import unicodedata

BIDI_FORMATTING = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_SEPARATORS = frozenset("\u2028\u2029\u0085")


def is_unsafe(char: str) -> bool:
    """A character that would control, reorder or break an officer's screen instead of being shown."""
    return char in BIDI_FORMATTING or char in LINE_SEPARATORS or unicodedata.category(char) == "Cc"


def unsafe_characters(text: str) -> list[str]:
    """The unsafe characters in ``text``, as the escapes an officer would see (first 5)."""
    return [f"\\u{ord(c):04x}" for c in text if is_unsafe(c)][:5]


def escape_for_officer(text: str) -> str:
    """``text`` with every unsafe character replaced by its ``\\uXXXX`` escape."""
    if not any(is_unsafe(c) for c in text):
        return text
    return "".join(f"\\u{ord(c):04x}" if is_unsafe(c) else c for c in text)


def escape_lines(text: str) -> str:
    """A multi-line output whose own line breaks are kept, every line escaped (e.g. indented JSON,
    whose strings never hold a raw line break)."""
    return "\n".join(escape_for_officer(line) for line in text.split("\n"))
