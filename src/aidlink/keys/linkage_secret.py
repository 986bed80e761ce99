"""The linkage secret (the key of every node's Bloom-filter encodings) and its sealing to one node.

Sealing is standard RFC 9180 HPKE, base mode, single shot, from ``cryptography.hazmat.primitives.hpke``
(cryptography >= 47): DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, to the P-256 key in the
node's certificate. The sealed blob is self-describing::

    magic "ALSS" | format 1 (u8) | kem id, kdf id, aead id (3 x u16) | secret version (u32)
    | SHA-256 fingerprint of the recipient certificate (32) | HPKE enc (65) | ciphertext+tag

The whole header goes into HPKE's ``info`` (after a context string), so it is bound into the key
schedule: changing any header byte, like any other byte, makes opening fail. HPKE derives the AEAD
nonce from the key schedule, so there is no nonce field; ``enc`` is the ephemeral public key.
Only department nodes may hold the secret: :func:`seal` refuses matcher and officer certificates.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ec

from aidlink.keys.identity import certificate_fingerprint, identity_from_pem, load_certificate
from aidlink.keys.key_files import KeyFileError, load_private_key

SECRET_LENGTH = 32
MAGIC = b"ALSS"
FORMAT_VERSION = 1
# RFC 9180 identifiers: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
KEM_ID, KDF_ID, AEAD_ID = 0x0010, 0x0001, 0x0002
_SUITE = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_INFO_CONTEXT = b"aidlink linkage-secret seal v1\x00"
_HEADER = struct.Struct(">4sBHHHI32s")
_ENC_LENGTH = 65  # uncompressed P-256 point
_TAG_LENGTH = 16
_MIN_LENGTH = _HEADER.size + _ENC_LENGTH + SECRET_LENGTH + _TAG_LENGTH


class SealedSecretError(Exception):
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
            raise ValueError(f"linkage secret version {self.version} key must be at least {SECRET_LENGTH} bytes, got {length}")

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
        cert = load_certificate(recipient_cert_pem)
        identity = identity_from_pem(cert)
    except ValueError as exc:  # IdentityError is a ValueError
        raise SealedSecretError(f"cannot seal to this certificate: {exc}") from None
    if identity.kind != "node":
        raise SealedSecretError(
            f"refusing to seal the linkage secret to {identity.describe()}: it is a {identity.kind} "
            "identity, and only department nodes may hold the linkage secret"
        )
    public_key = cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise SealedSecretError(f"cannot seal to {identity.describe()}: its key is not ECDSA P-256")
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, KEM_ID, KDF_ID, AEAD_ID, secret.version, certificate_fingerprint(cert))
    return header + _SUITE.encrypt(secret.key, public_key, info=_INFO_CONTEXT + header)


@dataclass(frozen=True)
class SealedSecretHeader:
    """The public part of a sealed blob: which secret version, for which certificate."""

    secret_version: int
    recipient_fingerprint: bytes


def read_sealed_header(blob: bytes) -> SealedSecretHeader:
    """Parse and check the header of a sealed blob without opening it."""
    if not isinstance(blob, (bytes, bytearray)):
        raise SealedSecretError(f"sealed secret must be bytes, got {type(blob).__name__}")
    if len(blob) < 4 or blob[:4] != MAGIC:
        raise SealedSecretError(f"not an aidlink sealed secret: expected magic {MAGIC!r}, found {bytes(blob[:4])!r}")
    if len(blob) < 5:
        raise SealedSecretError(f"sealed secret is truncated: {len(blob)} bytes, at least {_MIN_LENGTH} expected")
    if blob[4] != FORMAT_VERSION:
        raise SealedSecretError(f"unsupported sealed-secret format version {blob[4]} (this build reads {FORMAT_VERSION})")
    if len(blob) < _MIN_LENGTH:
        raise SealedSecretError(f"sealed secret is truncated: {len(blob)} bytes, at least {_MIN_LENGTH} expected")
    _, _, kem, kdf, aead, version, fingerprint = _HEADER.unpack_from(blob)
    if (kem, kdf, aead) != (KEM_ID, KDF_ID, AEAD_ID):
        raise SealedSecretError(
            f"unsupported HPKE suite kem={kem:#06x} kdf={kdf:#06x} aead={aead:#06x} "
            f"(this build reads kem={KEM_ID:#06x} kdf={KDF_ID:#06x} aead={AEAD_ID:#06x})"
        )
    if version == 0:
        raise SealedSecretError("sealed secret names version 0; versions start at 1")
    return SealedSecretHeader(secret_version=version, recipient_fingerprint=fingerprint)


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
        key = load_private_key(recipient_key_pem, key_passphrase, what="recipient private key")
    except KeyFileError as exc:
        raise SealedSecretError(str(exc)) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SealedSecretError("recipient private key is not an ECDSA P-256 key")
    sealed_for = header.recipient_fingerprint.hex()
    if recipient_cert_pem is not None:
        try:
            cert = load_certificate(recipient_cert_pem)
            who = identity_from_pem(cert).describe()
        except ValueError as exc:
            raise SealedSecretError(f"recipient certificate: {exc}") from None
        if not hmac.compare_digest(certificate_fingerprint(cert), header.recipient_fingerprint):
            raise SealedSecretError(
                f"sealed secret version {header.secret_version} is for another recipient (certificate "
                f"sha256:{sealed_for[:16]}…), not for {who} (sha256:{certificate_fingerprint(cert).hex()[:16]}…)"
            )
        if cert.public_key() != key.public_key():
            raise SealedSecretError(f"the private key given does not belong to {who}")
    info = _INFO_CONTEXT + bytes(blob[: _HEADER.size])
    try:
        plaintext = _SUITE.decrypt(bytes(blob[_HEADER.size:]), key, info=info)
    except (InvalidTag, ValueError):
        raise SealedSecretError(
            f"sealed secret version {header.secret_version} failed authentication: it was altered, or it "
            f"was not sealed to this key (it names recipient certificate sha256:{sealed_for[:16]}…)"
        ) from None
    try:
        return LinkageSecret(version=header.secret_version, key=plaintext)
    except ValueError as exc:
        raise SealedSecretError(str(exc)) from None
