"""Checks on request fields that the stores cannot hold as given, so a malformed request is refused
INVALID_ARGUMENT naming its field instead of failing deep in a database driver (INTERNAL)."""

from __future__ import annotations

from aidlink.matcher.errors import InvalidInput

MAX_STORED_INTEGER = 2**63 - 1  # SQLite INTEGER and PostgreSQL BIGINT are signed 64-bit


def stored_integer(value: int, field: str) -> int:
    """An id or cursor from a request (a uint64 on the wire): 0 to 2^63-1, as the stores hold them."""
    if not 0 <= value <= MAX_STORED_INTEGER:
        raise InvalidInput(f"{field}: {value} is out of range (0 to {MAX_STORED_INTEGER})")
    return value


MAX_DATASET_NAME_CHARS = 64
MAX_DATASET_NAME_BYTES = 200  # a dataset's name is part of its encoding files' names (255 bytes at most)


def check_dataset_name(name: str, field: str = "header.dataset") -> str:
    """A dataset's name: 1-64 characters and at most 200 bytes in UTF-8, no '/', no NUL or other
    control characters (it names files and is shown to officers)."""
    if not name or "/" in name or len(name) > MAX_DATASET_NAME_CHARS:
        shown = repr(name) if len(name) <= 2 * MAX_DATASET_NAME_CHARS else f"{name[:16]!r}… ({len(name)} characters)"
        raise InvalidInput(f"{field}: dataset name {shown} is invalid: 1-{MAX_DATASET_NAME_CHARS} characters, no '/'")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_DATASET_NAME_BYTES:
        raise InvalidInput(
            f"{field}: dataset name is {size} bytes in UTF-8; at most {MAX_DATASET_NAME_BYTES} "
            f"(e.g. 64 characters of 3 bytes)"
        )
    control = next((c for c in name if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), None)
    if control is not None:
        raise InvalidInput(
            f"{field}: dataset name contains the control character U+{ord(control):04X} "
            f"at position {name.index(control)}"
        )
    return name


def without_nul(value: str, field: str) -> str:
    """A string a store looks up (PostgreSQL text cannot hold NUL; no stored name contains one)."""
    if "\x00" in value:
        raise InvalidInput(f"{field}: contains a NUL character at position {value.index(chr(0))}")
    return value
