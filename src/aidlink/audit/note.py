"""C2SP signed notes with Ed25519 keys, wire-compatible with golang.org/x/mod/sumdb/note.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> <base64(4-byte key hash || signature)>``. The key hash is the
first 4 bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key).
Verifier keys read ``<name>+<8 hex digits key hash>+<base64(0x01 || public key)>``;
signer keys read ``PRIVATE+KEY+<name>+<key hash>+<base64(0x01 || 32-byte seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A signed note could not be produced or opened."""


class MalformedNoteError(NoteError):
    """The note, signature line or key string does not follow the signed-note format."""


class NoteSignatureError(NoteError):
    """The note carries no valid signature by the expected key."""


def is_valid_key_name(name: str) -> bool:
    """Key names are non-empty and contain no Unicode white space and no '+'."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_hash(name: str, public_key: Ed25519PublicKey) -> int:
    """First 4 bytes (big-endian) of SHA-256(name || '\\n' || 0x01 || public key)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + _raw(public_key)).digest()
    return int.from_bytes(digest[:4], "big")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MalformedNoteError(f"{what} is not valid base64: {text!r}") from exc


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not is_valid_key_name(name):
        raise MalformedNoteError(f"{what} {name!r} is not a valid key name (non-empty, no spaces, no '+')")


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 verifier key with its name and key hash."""

    name: str
    key_hash: int
    public_key: Ed25519PublicKey

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        _check_name(name, "key name")
        return cls(name, key_hash(name, public_key), public_key)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex key hash>+<base64(0x01 || public key)>``."""
        parts = vkey.split("+", 2)  # the base64 key may itself contain "+"
        if len(parts) != 3:
            raise MalformedNoteError(f"verifier key {vkey!r} must have the form <name>+<keyhash>+<key>")
        name, hash16, key64 = parts
        _check_name(name, "verifier key name")
        if len(hash16) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hash16):
            raise MalformedNoteError(f"verifier key hash {hash16!r} must be 8 hex digits")
        key = _b64decode(key64, "verifier key")
        if not key or key[0] != ALG_ED25519:
            alg = key[0] if key else None
            raise MalformedNoteError(f"verifier key algorithm {alg!r} is not Ed25519 (0x01)")
        if len(key) != 33:
            raise MalformedNoteError(f"Ed25519 verifier key has {len(key) - 1} bytes, want 32")
        public_key = Ed25519PublicKey.from_public_bytes(key[1:])
        verifier = cls.from_public_key(name, public_key)
        if verifier.key_hash != int(hash16, 16):
            raise MalformedNoteError(
                f"verifier key hash {hash16} does not match the key (want {verifier.key_hash:08x})"
            )
        return verifier

    def vkey(self) -> str:
        """The verifier key string."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_hash:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` (64 bytes, without the key hash) signs `message`."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoteVerifier) and self.vkey() == other.vkey()

    def __hash__(self) -> int:
        return hash(self.vkey())


class NoteKey(Protocol):
    """An Ed25519 private key, or anything signing like one (keys.audit_key.AuditSigningKey)."""

    def sign(self, data: bytes) -> bytes: ...
    def public_key(self) -> Ed25519PublicKey: ...


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 signing key with its name and key hash."""

    name: str
    private_key: NoteKey

    def __post_init__(self) -> None:
        _check_name(self.name, "key name")

    @classmethod
    def parse(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>``."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedNoteError("signer key must have the form PRIVATE+KEY+<name>+<keyhash>+<key>")
        _, _, name, hash16, key64 = parts
        _check_name(name, "signer key name")
        if len(hash16) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hash16):
            raise MalformedNoteError(f"signer key hash {hash16!r} must be 8 hex digits")
        key = _b64decode(key64, "signer key")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise MalformedNoteError("signer key must be 0x01 followed by a 32-byte Ed25519 seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(key[1:]))
        if signer.key_hash != int(hash16, 16):
            raise MalformedNoteError(f"signer key hash {hash16} does not match the key (want {signer.key_hash:08x})")
        return signer

    @property
    def key_hash(self) -> int:
        return key_hash(self.name, self.private_key.public_key())

    def verifier(self) -> NoteVerifier:
        """The matching verifier."""
        return NoteVerifier.from_public_key(self.name, self.private_key.public_key())

    def sign(self, text: bytes) -> bytes:
        """The signed note: `text`, a blank line and this key's signature line."""
        _check_text(text)
        signature = self.private_key.sign(text)
        blob = self.key_hash.to_bytes(4, "big") + signature
        line = f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"
        return text + b"\n" + line.encode()


def _check_text(text: bytes) -> str:
    if not isinstance(text, (bytes, bytearray)):
        raise MalformedNoteError(f"note text must be bytes, got {type(text).__name__}")
    try:
        decoded = bytes(text).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError(f"note is not valid UTF-8 (byte {exc.start})") from exc
    for i, c in enumerate(decoded):
        if c < " " and c != "\n":
            raise MalformedNoteError(f"note has control character {c!r} at character {i}")
    if not decoded.endswith("\n"):
        raise MalformedNoteError("note text must end with a newline")
    return decoded


def sign_note(text: bytes, name: str, private_key: NoteKey) -> bytes:
    """Sign `text` (UTF-8, ending in a newline) with an Ed25519 key under `name`."""
    return NoteSigner(name, private_key).sign(text)


def open_note(note: bytes, verifier: NoteVerifier) -> bytes:
    """Return the text of `note` after checking it carries a valid signature by `verifier`.

    Signatures by other keys are ignored (they may be cosignatures). Raises
    MalformedNoteError for a badly formed note and NoteSignatureError when the
    verifier's signature is missing or wrong.
    """
    if not isinstance(note, (bytes, bytearray)):
        raise MalformedNoteError(f"note must be bytes, got {type(note).__name__}")
    decoded = _check_text(bytes(note))
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, sig_block = decoded[: split + 1], decoded[split + 2 :]
    if not sig_block:
        raise MalformedNoteError("note has no signature lines after the blank line")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has {len(lines)} signatures, at most {MAX_SIGNATURES} allowed")
    found = False
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedNoteError(f"signature line {number} does not start with '— ': {line!r}")
        name, sep, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not sep or not is_valid_key_name(name) or not b64:
            raise MalformedNoteError(f"signature line {number} is not '— <name> <base64>': {line!r}")
        blob = _b64decode(b64, f"signature line {number}")
        if len(blob) < 5:
            raise MalformedNoteError(f"signature line {number} is too short ({len(blob)} bytes)")
        if name != verifier.name or int.from_bytes(blob[:4], "big") != verifier.key_hash:
            continue
        if not verifier.verify(text.encode(), blob[4:]):
            raise NoteSignatureError(f"invalid signature for key {verifier.name}+{verifier.key_hash:08x}")
        found = True
    if not found:
        raise NoteSignatureError(f"note has no signature by key {verifier.name}+{verifier.key_hash:08x}")
    return text.encode()
