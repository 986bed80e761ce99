"""C2SP tlog-cosignature v1 (Ed25519): a witness's timestamped statement about a checkpoint.

A cosignature is a signed-note signature line ``— <witness name> base64(key ID || timestamp
|| signature)``: the key ID is SHA-256(name || "\\n" || 0x04 || public key)[:4], the
timestamp a big-endian u64 of POSIX seconds, and the Ed25519 signature covers
``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body. Its verifier key
is ``<name>+<key ID hex>+base64(0x04 || public key)``.

`verify_cosigned_checkpoint` is the one place that checks a checkpoint and its
cosignatures (the officer's `audit verify`, the matcher's client and any console use it).
Written here rather than taken from a library: no maintained Python package implements
tlog-cosignature; the format is three lines of struct packing over `cryptography`'s Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aidlink.audit.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from aidlink.audit.note import SIGNATURE_PREFIX, NoteError, NoteKey, NoteVerifier, is_valid_key_name

ALG_COSIGNATURE_V1 = 0x04
HEADER = b"cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1


class CosignatureError(ValueError):
    """A cosignature or witness key is malformed, or does not verify."""


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def cosigner_key_id(name: str, public_key: Ed25519PublicKey) -> int:
    """SHA-256(name || '\\n' || 0x04 || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + _raw(public_key)).digest()
    return int.from_bytes(digest[:4], "big")


def signed_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    """What a v1 cosignature signs: the header line, the time line, then the checkpoint body."""
    return HEADER + f"time {timestamp}\n".encode() + checkpoint_body


@dataclass(frozen=True)
class WitnessVerifier:
    """A witness's public key and name: checks its cosignatures."""

    name: str
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise CosignatureError(f"witness name {self.name!r} is not a valid key name (no spaces, no '+')")

    @property
    def key_id(self) -> int:
        return cosigner_key_id(self.name, self.public_key)

    @classmethod
    def parse(cls, vkey: str) -> WitnessVerifier:
        """Parse ``<name>+<8 hex key ID>+base64(0x04 || 32-byte Ed25519 key)``."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise CosignatureError(f"witness key {vkey!r} must have the form <name>+<key id>+<base64 key>")
        name, key_id, key64 = parts
        if len(key_id) != 8 or any(c not in "0123456789abcdefABCDEF" for c in key_id):
            raise CosignatureError(f"witness key id {key_id!r} must be 8 hex digits")
        try:
            key = base64.b64decode(key64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise CosignatureError(f"witness key {key64!r} is not valid base64") from None
        if len(key) != 33 or key[0] != ALG_COSIGNATURE_V1:
            raise CosignatureError(
                "witness key must be 0x04 (tlog-cosignature v1, Ed25519) followed by a 32-byte public key"
            )
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(key[1:]))
        if verifier.key_id != int(key_id, 16):
            raise CosignatureError(f"witness key id {key_id} does not match the key (want {verifier.key_id:08x})")
        return verifier

    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WitnessVerifier) and self.vkey() == other.vkey()

    def __hash__(self) -> int:
        return hash(self.vkey())


@dataclass(frozen=True)
class Cosignature:
    """One verified cosignature: who, and when (POSIX seconds)."""

    witness: str
    key_id: int
    timestamp: int
    line: str  # the signature line, without its newline


def cosign(checkpoint_body: bytes, name: str, private_key: NoteKey, timestamp: int | None = None) -> str:
    """The cosignature line (ending in a newline) by `private_key` under `name` on a checkpoint body."""
    if not is_valid_key_name(name):
        raise CosignatureError(f"witness name {name!r} is not a valid key name")
    when = int(time.time()) if timestamp is None else timestamp
    if not 0 <= when <= MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature timestamp {when} out of range")
    signature = private_key.sign(signed_message(checkpoint_body, when))
    blob = cosigner_key_id(name, private_key.public_key()).to_bytes(4, "big") + struct.pack(">Q", when) + signature
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


def _body_and_lines(note: bytes) -> tuple[bytes, list[str]]:
    text = bytes(note).decode("utf-8", errors="strict")
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise CosignatureError("cosigned checkpoint has no blank line before its signatures")
    return text[: split + 1].encode(), text[split + 2 : -1].split("\n")


def find_cosignature(note: bytes, witness: WitnessVerifier) -> Cosignature:
    """The valid cosignature by `witness` on the checkpoint in `note`; raises CosignatureError."""
    try:
        body, lines = _body_and_lines(note)
    except UnicodeDecodeError:
        raise CosignatureError("cosigned checkpoint is not valid UTF-8") from None
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            continue
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if name != witness.name:
            continue
        try:
            blob = base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            continue
        if len(blob) != 4 + 8 + 64 or int.from_bytes(blob[:4], "big") != witness.key_id:
            continue
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        if timestamp > MAX_TIMESTAMP:
            raise CosignatureError(f"cosignature by {witness.name} has timestamp {timestamp} beyond 2^63-1")
        try:
            witness.public_key.verify(blob[12:], signed_message(body, timestamp))
        except InvalidSignature:
            raise CosignatureError(f"invalid cosignature by witness {witness.name}+{witness.key_id:08x}") from None
        return Cosignature(witness.name, witness.key_id, timestamp, line)
    raise CosignatureError(f"no cosignature by witness {witness.name}+{witness.key_id:08x}")


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint whose log signature verified, and the witnesses' cosignatures that verified."""

    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]
    note: bytes

    def cosigned_by(self, witness: WitnessVerifier) -> Cosignature | None:
        return next((c for c in self.cosignatures if c.key_id == witness.key_id and c.witness == witness.name), None)


def verify_cosigned_checkpoint(
    note: bytes,
    log_verifier: NoteVerifier,
    witnesses: Sequence[WitnessVerifier],
    *,
    require_all: bool = True,
    origin: str | None = None,
) -> CosignedCheckpoint:
    """Check the log's signature on `note` and each witness's cosignature.

    With `require_all` every witness must have cosigned (else CosignatureError names the
    missing one); without it, the cosignatures that verify are returned (possibly none).
    A cosignature present but invalid is always an error.
    """
    try:
        cp = open_checkpoint(note, log_verifier, origin)
    except (NoteError, CheckpointError) as exc:
        raise CosignatureError(f"checkpoint does not verify with the log's key: {exc}") from None
    found: list[Cosignature] = []
    for witness in witnesses:
        try:
            found.append(find_cosignature(note, witness))
        except CosignatureError as exc:
            if require_all or str(exc).startswith("invalid"):
                raise
    return CosignedCheckpoint(cp, tuple(found), bytes(note))


def read_witness_key(text_or_path: str) -> WitnessVerifier:
    """A witness verifier key given as the string, or as a file holding it."""
    candidate = Path(text_or_path)
    if "\n" not in text_or_path and len(text_or_path) < 4096 and candidate.is_file():
        text = candidate.read_text("utf-8")
    else:
        text = text_or_path
    return WitnessVerifier.parse(text)
