"""clkhash's JSON CLK files: ``{"clks": ["<base64>", ...]}``."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any


class ClkFileError(ValueError):
    """A CLK JSON document is malformed; names the entry at fault."""


def clks_to_json(clks: Iterable[bytes]) -> dict[str, list[str]]:
    """The JSON object clkhash writes for ``clks``."""
    return {"clks": [base64.b64encode(bytes(clk)).decode("ascii") for clk in clks]}


def clks_from_json(obj: Mapping[str, Any] | str | bytes, length_bytes: int | None = None) -> list[bytes]:
    """Decode a clkhash CLK document; with ``length_bytes``, every CLK must have that length."""
    if isinstance(obj, (str, bytes, bytearray)):
        try:
            obj = json.loads(obj)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ClkFileError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, Mapping) or not isinstance(obj.get("clks"), list):
        raise ClkFileError("expected a JSON object with a 'clks' array")
    clks = []
    for index, text in enumerate(obj["clks"]):
        if not isinstance(text, str):
            raise ClkFileError(f"clks[{index}]: expected a base64 string, got {type(text).__name__}")
        try:
            clk = base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise ClkFileError(f"clks[{index}]: not valid base64 ({exc})") from None
        if length_bytes is not None and len(clk) != length_bytes:
            raise ClkFileError(f"clks[{index}]: expected {length_bytes} bytes, got {len(clk)}")
        clks.append(clk)
    return clks


def read_clks(path: str | os.PathLike[str], length_bytes: int | None = None) -> list[bytes]:
    """Read a clkhash CLK JSON file."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return clks_from_json(data, length_bytes)
    except ClkFileError as exc:
        raise ClkFileError(f"{os.fspath(path)}: {exc}") from None


def write_clks(path: str | os.PathLike[str], clks: Iterable[bytes]) -> None:
    """Write CLKs as a clkhash CLK JSON file."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(clks_to_json(clks), fh)
        fh.write("\n")
