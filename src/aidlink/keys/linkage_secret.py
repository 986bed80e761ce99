"""The linkage secret (the key of every node's Bloom-filter encodings) and its sealing to one node.

Sealing is :mod:`aidlink.keys.sealing` (RFC 9180 HPKE to the P-256 key in the node's certificate)
with purpose ``linkage-secret`` and the secret version (u32, big-endian) as the envelope's
context, so the version is readable before opening and bound into the key schedule. Only
department nodes may hold the secret: the purpose refuses matcher and officer certificates.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from aidlink.keys import sealing
from aidlink.keys.sealing import MAGIC, SealError, SealPurpose

SECRET_LENGTH = 32
PURPOSE = SealPurpose.LINKAGE_SECRET
_VERSION = struct.Struct(">I")

__all__ = [
    "MAGIC",
    "SECRET_LENGTH",
    "LinkageSecret",
    "SealedSecretError",
    "SealedSecretHeader",
    "open_sealed",
    "read_sealed_header",
    "seal",
]


class SealedSecretError(SealError):
    """A linkage secret could not be sealed or opened; the message says why."""


@dataclass(frozen=True, eq=False, repr=False)
class LinkageSecret:
    """One version of the linkage secret. Its repr and str show the version and a key id, never the key."""

    version: int
    key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.version, int) or isinstance(self.version, bool) or not 1 <= self.version < 2**32:
            raise ValueError(f"linkage secret version must be an integer from 1 to 2**32-1, got {self.version!r}")
        if not isinstance(self.key, bytes) or len(self.key) < SECRET_LENGTH:
            length = len(self.key) if isinstance(self.key, (bytes, bytearray)) else type(self.key).__name__
            raise ValueError(
                f"linkage secret version {self.version} key must be at least {SECRET_LENGTH} bytes, got {length}"
            )

    @classmethod
    def generate(cls, version: int) -> LinkageSecret:
        return cls(version=version, key=os.urandom(SECRET_LENGTH))

    @property
    def key_id(self) -> str:
        """A short public name for the key (16 hex digits of a hash): nodes compare it, not the key."""
        return hashlib.sha256(b"aidlink linkage-secret key id\x00" + self.key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LinkageSecret(version={self.version}, key_id={self.key_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LinkageSecret):
            return NotImplemented
        return self.version == other.version and hmac.compare_digest(self.key, other.key)

    def __hash__(self) -> int:
        return hash((self.version, self.key_id))


def seal(secret: LinkageSecret, recipient_cert_pem: bytes) -> bytes:
    """Seal ``secret`` so that only the holder of the node certificate's private key can open it."""
    try:
        return sealing.seal(secret.key, recipient_cert_pem, purpose=PURPOSE, context=_VERSION.pack(secret.version))
    except SealError as exc:
        raise SealedSecretError(str(exc)) from None


@dataclass(frozen=True)
class SealedSecretHeader:
    """The public part of a sealed blob: which secret version, for which certificate."""

    secret_version: int
    recipient_fingerprint: bytes


def read_sealed_header(blob: bytes) -> SealedSecretHeader:
    """Parse and check the header of a sealed secret without opening it."""
    try:
        envelope = sealing.read_envelope(blob)
    except SealError as exc:
        raise SealedSecretError(str(exc)) from None
    if envelope.purpose is not PURPOSE:
        raise SealedSecretError(
            f"not a sealed linkage secret: this envelope was sealed as {envelope.purpose.noun} "
            f"({envelope.purpose.label})"
        )
    if len(envelope.context) != _VERSION.size:
        raise SealedSecretError(
            f"sealed linkage secret names a {len(envelope.context)}-byte version; expected {_VERSION.size} bytes"
        )
    (version,) = _VERSION.unpack(envelope.context)
    if version == 0:
        raise SealedSecretError("sealed secret names version 0; versions start at 1")
    if envelope.ciphertext_length < SECRET_LENGTH + sealing.TAG_LENGTH:
        raise SealedSecretError(
            f"sealed secret is truncated: {len(blob)} bytes, at least "
            f"{len(blob) - envelope.ciphertext_length + SECRET_LENGTH + sealing.TAG_LENGTH} expected"
        )
    return SealedSecretHeader(secret_version=version, recipient_fingerprint=envelope.recipient_fingerprint)


def open_sealed(
    blob: bytes,
    recipient_key_pem: bytes,
    recipient_cert_pem: bytes | None = None,
    *,
    key_passphrase: bytes | None = None,
) -> LinkageSecret:
    """Open a blob sealed by :func:`seal` with the recipient node's private key.

    Give ``recipient_cert_pem`` too for precise errors (sealed for another certificate; key not
    the certificate's); without it, a wrong key and an altered blob look the same.
    """
    header = read_sealed_header(blob)
    try:
        plaintext = sealing.open_sealed(
            blob,
            recipient_key_pem,
            recipient_cert_pem,
            purpose=PURPOSE,
            context=_VERSION.pack(header.secret_version),
            key_passphrase=key_passphrase,
        )
    except SealError as exc:
        raise SealedSecretError(f"sealed linkage secret version {header.secret_version}: {exc}") from None
    try:
        return LinkageSecret(version=header.secret_version, key=plaintext)
    except ValueError as exc:
        raise SealedSecretError(str(exc)) from None
