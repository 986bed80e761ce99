"""Seal bytes to a certificate: the one recipe for the linkage secret, referral identities and bundles.

Standard RFC 9180 HPKE, base mode, single shot, from ``cryptography.hazmat.primitives.hpke``:
DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, to the P-256 key of the recipient's
certificate. A sealed envelope is self-describing and versioned::

    magic "ALSE" | format 1 (u8) | kem id, kdf id, aead id (3 x u16)
    | purpose label length (u8) | purpose label (ASCII)
    | context length (u16) | context
    | SHA-256 fingerprint of the recipient certificate (32) | HPKE enc (65) | ciphertext+tag

Everything before ``enc`` is the header, and the whole header goes into HPKE's ``info`` (after
a fixed context string), so it is bound into the key schedule: changing any header byte, like
any other byte, makes opening fail. The *purpose* (:class:`SealPurpose`, a closed set) says what
the envelope is for, and which kinds of certificate it may be sealed to; an envelope sealed for
one purpose is refused when opened as another. The *context* is public bytes the user binds the
envelope to (the secret version, the referral id, the bundle header's digest): opening with an
expected context refuses an envelope sealed for any other.
"""

from __future__ import annotations

import enum
import hmac
import struct
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ec

from aidlink.keys.identity import certificate_fingerprint, identity_from_pem, load_certificate
from aidlink.keys.key_files import KeyFileError, load_private_key

MAGIC = b"ALSE"
FORMAT_VERSION = 1
# RFC 9180 identifiers: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
KEM_ID, KDF_ID, AEAD_ID = 0x0010, 0x0001, 0x0002
_SUITE = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_INFO_CONTEXT = b"aidlink sealed envelope v1\x00"
_PREFIX = struct.Struct(">4sBHHHB")  # magic, format, kem, kdf, aead, purpose label length
_U16 = struct.Struct(">H")
_FINGERPRINT_LENGTH = 32
ENC_LENGTH = 65  # uncompressed P-256 point
TAG_LENGTH = 16
MAX_CONTEXT = 0xFFFF


class SealPurpose(enum.Enum):
    """What a sealed envelope is for; each purpose names the certificate kinds it may be sealed to."""

    LINKAGE_SECRET = ("linkage-secret", "the linkage secret", ("node",))
    REFERRAL_IDENTITY = ("referral-identity", "a referral identity", ("node",))
    OFFLINE_BUNDLE = ("offline-bundle", "an offline bundle", ("node", "matcher"))

    def __init__(self, label: str, noun: str, recipient_kinds: tuple[str, ...]) -> None:
        self.label, self.noun, self.recipient_kinds = label, noun, recipient_kinds

    @classmethod
    def from_label(cls, label: str) -> SealPurpose:
        for purpose in cls:
            if purpose.label == label:
                return purpose
        raise SealError(
            f"sealed envelope names unknown purpose {label!r} (this build knows {', '.join(p.label for p in cls)})"
        )


class SealError(Exception):
    """An envelope could not be sealed or opened; the message says why."""


@dataclass(frozen=True)
class SealedEnvelope:
    """The public, authenticated-on-open part of a sealed envelope."""

    purpose: SealPurpose
    context: bytes
    recipient_fingerprint: bytes
    header_length: int
    ciphertext_length: int  # AEAD ciphertext and tag, after enc


def _p256_public_key(cert: x509.Certificate, who: str) -> ec.EllipticCurvePublicKey:
    public_key = cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise SealError(f"cannot seal to {who}: its key is not ECDSA P-256")
    return public_key


def _check_purpose(purpose: object) -> SealPurpose:
    if not isinstance(purpose, SealPurpose):
        raise TypeError(f"purpose must be a SealPurpose, got {purpose!r}")
    return purpose


def seal(
    plaintext: bytes, recipient_cert_pem: bytes | x509.Certificate, *, purpose: SealPurpose, context: bytes = b""
) -> bytes:
    """Seal ``plaintext`` so that only the holder of the certificate's private key can open it,
    and only as ``purpose`` with ``context``. The certificate must be of a kind the purpose allows."""
    purpose = _check_purpose(purpose)
    if not isinstance(plaintext, (bytes, bytearray)):
        raise TypeError(f"plaintext must be bytes, got {type(plaintext).__name__}")
    if not isinstance(context, (bytes, bytearray)) or len(context) > MAX_CONTEXT:
        raise ValueError(f"context must be at most {MAX_CONTEXT} bytes")
    try:
        cert = load_certificate(recipient_cert_pem)
        identity = identity_from_pem(cert)
    except ValueError as exc:  # IdentityError is a ValueError
        raise SealError(f"cannot seal to this certificate: {exc}") from None
    if identity.kind not in purpose.recipient_kinds:
        raise SealError(
            f"refusing to seal {purpose.noun} to {identity.describe()}: it is a {identity.kind} identity, "
            f"and {purpose.noun} is sealed only to {' or '.join(purpose.recipient_kinds)} identities"
        )
    public_key = _p256_public_key(cert, identity.describe())
    header = _header(purpose, bytes(context), certificate_fingerprint(cert))
    return header + _SUITE.encrypt(bytes(plaintext), public_key, info=_INFO_CONTEXT + header)


def _header(purpose: SealPurpose, context: bytes, fingerprint: bytes) -> bytes:
    label = purpose.label.encode("ascii")
    return (
        _PREFIX.pack(MAGIC, FORMAT_VERSION, KEM_ID, KDF_ID, AEAD_ID, len(label))
        + label
        + _U16.pack(len(context))
        + context
        + fingerprint
    )


def read_envelope(blob: bytes) -> SealedEnvelope:
    """Parse and check the header of a sealed envelope without opening it (nothing is authenticated yet)."""
    if not isinstance(blob, (bytes, bytearray)):
        raise SealError(f"sealed envelope must be bytes, got {type(blob).__name__}")
    if len(blob) < 4 or blob[:4] != MAGIC:
        raise SealError(f"not an aidlink sealed envelope: expected magic {MAGIC!r}, found {bytes(blob[:4])!r}")
    if len(blob) < 5:
        raise SealError(f"sealed envelope is truncated: {len(blob)} bytes, the header alone needs {_PREFIX.size}")
    if blob[4] != FORMAT_VERSION:
        raise SealError(f"unsupported sealed-envelope format version {blob[4]} (this build reads {FORMAT_VERSION})")
    if len(blob) < _PREFIX.size:
        raise SealError(f"sealed envelope is truncated: {len(blob)} bytes, the header alone needs {_PREFIX.size}")
    _, _, kem, kdf, aead, label_length = _PREFIX.unpack_from(blob)
    if (kem, kdf, aead) != (KEM_ID, KDF_ID, AEAD_ID):
        raise SealError(
            f"unsupported HPKE suite kem={kem:#06x} kdf={kdf:#06x} aead={aead:#06x} "
            f"(this build reads kem={KEM_ID:#06x} kdf={KDF_ID:#06x} aead={AEAD_ID:#06x})"
        )
    pos = _PREFIX.size + label_length
    if len(blob) < pos + _U16.size:
        raise SealError(f"sealed envelope is truncated: {len(blob)} bytes, its purpose label alone ends at {pos}")
    try:
        label = bytes(blob[_PREFIX.size : pos]).decode("ascii")
    except UnicodeDecodeError:
        raise SealError("sealed envelope purpose label is not ASCII: it was altered") from None
    purpose = SealPurpose.from_label(label)
    (context_length,) = _U16.unpack_from(blob, pos)
    pos += _U16.size
    header_length = pos + context_length + _FINGERPRINT_LENGTH
    minimum = header_length + ENC_LENGTH + TAG_LENGTH
    if len(blob) < minimum:
        raise SealError(f"sealed {purpose.label} envelope is truncated: {len(blob)} bytes, at least {minimum} expected")
    return SealedEnvelope(
        purpose=purpose,
        context=bytes(blob[pos : pos + context_length]),
        recipient_fingerprint=bytes(blob[pos + context_length : header_length]),
        header_length=header_length,
        ciphertext_length=len(blob) - header_length - ENC_LENGTH,
    )


def open_sealed(
    blob: bytes,
    recipient_key_pem: bytes,
    recipient_cert_pem: bytes | x509.Certificate | None = None,
    *,
    purpose: SealPurpose,
    context: bytes | None,
    key_passphrase: bytes | None = None,
) -> bytes:
    """Open an envelope sealed by :func:`seal` for ``purpose``, with the recipient's private key.

    ``context`` is the context the caller expects (an envelope sealed for another is refused);
    ``None`` accepts the one the envelope names (read it with :func:`read_envelope`; it is
    authenticated when the envelope opens). Give ``recipient_cert_pem`` too for precise errors
    (sealed for another certificate; key not the certificate's); without it, a wrong key and an
    altered envelope look the same.
    """
    purpose = _check_purpose(purpose)
    envelope = read_envelope(blob)
    if envelope.purpose is not purpose:
        raise SealError(
            f"this envelope was sealed as {envelope.purpose.noun} ({envelope.purpose.label}); "
            f"refusing to open it as {purpose.noun} ({purpose.label})"
        )
    if context is not None and not hmac.compare_digest(envelope.context, bytes(context)):
        raise SealError(
            f"this {purpose.label} envelope was sealed for context {envelope.context.hex() or '(empty)'}, "
            f"not {bytes(context).hex() or '(empty)'}"
        )
    try:
        key = load_private_key(recipient_key_pem, key_passphrase, what="recipient private key")
    except KeyFileError as exc:
        raise SealError(str(exc)) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SealError("recipient private key is not an ECDSA P-256 key")
    sealed_for = envelope.recipient_fingerprint.hex()
    if recipient_cert_pem is not None:
        try:
            cert = load_certificate(recipient_cert_pem)
            who = identity_from_pem(cert).describe()
        except ValueError as exc:
            raise SealError(f"recipient certificate: {exc}") from None
        mine = certificate_fingerprint(cert)
        if not hmac.compare_digest(mine, envelope.recipient_fingerprint):
            raise SealError(
                f"sealed {purpose.label} is for another recipient (certificate sha256:{sealed_for[:16]}…), "
                f"not for {who} (sha256:{mine.hex()[:16]}…)"
            )
        if cert.public_key() != key.public_key():
            raise SealError(f"the private key given does not belong to {who}")
    info = _INFO_CONTEXT + bytes(blob[: envelope.header_length])
    try:
        return _SUITE.decrypt(bytes(blob[envelope.header_length :]), key, info=info)
    except (InvalidTag, ValueError):
        raise SealError(
            f"sealed {purpose.label} failed authentication: it was altered, or it was not sealed "
            f"to this key (it names recipient certificate sha256:{sealed_for[:16]}…)"
        ) from None
