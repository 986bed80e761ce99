"""The C2SP tlog-witness wire format: the add-checkpoint request body and the answers.

Request: ``old <size>\\n``, up to 63 base64 consistency proof lines, a blank line,
then the signed checkpoint note. Answers: 200 with cosignature lines; 400 malformed
or old size above the checkpoint's; 403 no trusted signature; 404 unknown log;
409 old size not the witness's (body: its size and a newline, Content-Type
``text/x.tlog.size``) or same size with another root; 422 the proof does not verify.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aidlink.audit.merkle import HASH_SIZE

MAX_PROOF_LINES = 63
MAX_BODY_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessRequestError(ValueError):
    """The request body does not follow the add-checkpoint format (answered 400)."""


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


def _decimal(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or (text.startswith("0") and text != "0"):
        raise WitnessRequestError(f"{what} {text!r} is not a decimal number without leading zeros")
    value = int(text)
    if value >= 2**63:
        raise WitnessRequestError(f"{what} {text} is too large")
    return value


def format_request(old_size: int, proof: list[bytes] | tuple[bytes, ...], note: bytes) -> bytes:
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return "".join(lines).encode() + bytes(note)


def parse_request(body: bytes) -> AddCheckpoint:
    if len(body) > MAX_BODY_BYTES:
        raise WitnessRequestError(f"request body is {len(body)} bytes, at most {MAX_BODY_BYTES}")
    head, sep, note = bytes(body).partition(b"\n\n")
    if not sep:
        raise WitnessRequestError("request has no blank line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise WitnessRequestError("old size and proof lines must be ASCII") from None
    first, *proof_lines = lines
    if not first.startswith("old "):
        raise WitnessRequestError(f"first line must be 'old <size>', got {first[:40]!r}")
    old_size = _decimal(first[4:], "old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise WitnessRequestError(f"{len(proof_lines)} consistency proof lines, at most {MAX_PROOF_LINES}")
    proof = []
    for number, line in enumerate(proof_lines, start=1):
        try:
            value = base64.b64decode(line.encode("ascii"), validate=True)
        except binascii.Error:
            raise WitnessRequestError(f"consistency proof line {number} is not base64") from None
        if len(value) != HASH_SIZE:
            raise WitnessRequestError(f"consistency proof line {number} is {len(value)} bytes, not {HASH_SIZE}")
        proof.append(value)
    return AddCheckpoint(old_size, tuple(proof), note)


def parse_size_body(body: bytes) -> int:
    """The witness's size from a 409 answer's ``<size>\\n`` body."""
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n"):
        raise WitnessRequestError(f"409 answer body {text[:40]!r} is not '<size>\\n'")
    return _decimal(text[:-1], "witness size")
