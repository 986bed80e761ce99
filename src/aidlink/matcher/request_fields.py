"""Checks on request fields that the stores cannot hold as given, so a malformed request is refused
INVALID_ARGUMENT naming its field instead of failing deep in a database driver (INTERNAL)."""

from __future__ import annotations

from aidlink.audit.officer_text import unsafe_characters
from aidlink.matcher.errors import InvalidInput

MAX_STORED_INTEGER = 2**63 - 1  # SQLite INTEGER and PostgreSQL BIGINT are signed 64-bit


def stored_integer(value: int, field: str) -> int:
    """An id or cursor from a request (a uint64 on the wire): 0 to 2^63-1, as the stores hold them."""
    if not 0 <= value <= MAX_STORED_INTEGER:
        raise InvalidInput(f"{field}: {value} is out of range (0 to {MAX_STORED_INTEGER})")
    return value


MAX_DATASET_NAME_CHARS = 64
MAX_DATASET_NAME_BYTES = 200  # a dataset's name is part of its encoding files' names (255 bytes at most)


def dataset_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a dataset, or None: 1-64 printable characters, at most 200 bytes in
    UTF-8 (it is part of file names), no '/'. The message quotes no name that is too long or
    unprintable: it may be megabytes, or forge an officer's screen."""
    if not name:
        return f"a dataset name is required (1-{MAX_DATASET_NAME_CHARS} printable characters, no '/')"
    size = len(name.encode("utf-8", "surrogatepass"))
    if len(name) > MAX_DATASET_NAME_CHARS:
        return (
            f"the dataset name has {len(name)} characters ({size} bytes); at most {MAX_DATASET_NAME_CHARS} are allowed"
        )
    if size > MAX_DATASET_NAME_BYTES:
        return f"the dataset name is {size} bytes in UTF-8; at most {MAX_DATASET_NAME_BYTES} (e.g. 64 characters of 3 bytes)"
    if not name.isprintable():
        shown = ", ".join(unsafe_characters(name)) or "format or separator characters"
        return (
            f"the dataset name holds characters that cannot be shown ({shown}); only printable characters are allowed"
        )
    if "/" in name:
        return f"the dataset name {name!r} holds a '/'; a dataset name has none"
    return None


def check_dataset_name(name: str, field: str = "header.dataset") -> str:
    """``name`` if it can name a dataset; else InvalidInput naming ``field`` and the rule."""
    problem = dataset_name_problem(name)
    if problem:
        raise InvalidInput(f"{field}: {problem}")
    return name


def without_nul(value: str, field: str) -> str:
    """A string a store looks up (PostgreSQL text cannot hold NUL; no stored name contains one)."""
    if "\x00" in value:
        raise InvalidInput(f"{field}: contains a NUL character at position {value.index(chr(0))}")
    return value
