"""End-to-end encrypted identity disclosure for referrals (Art. 14, 17).

The node holding a person seals the person's fields to the receiving node's
certificate; the matcher relays the blob and cannot open it. Standard RFC 9180
HPKE, base mode (as keys/linkage_secret.py): DHKEM(P-256, HKDF-SHA256),
HKDF-SHA256, AES-256-GCM. The blob::

    magic "AIDR" | format 1 (u8) | referral id (u64) | SHA-256 of the recipient certificate (32)
    | HPKE enc (65) | ciphertext+tag

The header is bound into HPKE's `info`, so a blob cannot be replayed for
another referral or recipient. The plaintext (UTF-8 JSON) is padded to a
multiple of 512 bytes so its length does not tell names apart.
"""
from __future__ import annotations

import hmac
import json
import struct
from typing import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ec

from aidlink.keys.identity import CertificatePolicy, CertificateRejected, certificate_fingerprint, load_certificate
from aidlink.keys.key_files import KeyFileError, load_private_key

MAGIC = b"AIDR"
FORMAT_VERSION = 1
PAD_TO = 512
IDENTITY_FIELDS = ("name", "id_number", "birth_date", "sex", "phone", "address")
_SUITE = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_INFO_CONTEXT = b"aidlink referral identity v1\x00"
_HEADER = struct.Struct(">4sBQ32s")


class DisclosureError(Exception):
    """An identity could not be sealed or opened; the message says why."""


def seal_identity(fields: Mapping[str, str], referral_id: int, recipient_department: str,
                  recipient_cert_pem: bytes, ca_cert_pem: bytes) -> bytes:
    """Seal a person's fields for the node of `recipient_department`, after checking that the
    certificate (which came through the matcher) is a current node certificate of that
    department issued by our CA."""
    try:
        identity = CertificatePolicy(ca_cert_pem, kinds=("node",)).check(recipient_cert_pem)
    except CertificateRejected as exc:
        raise DisclosureError(f"the recipient certificate is not acceptable: {exc}") from None
    if identity.department != recipient_department:
        raise DisclosureError(f"the certificate given for {recipient_department} belongs to "
                              f"{identity.department}; refusing to disclose")
    cert = load_certificate(recipient_cert_pem)
    public_key = cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise DisclosureError(f"cannot seal to {identity.describe()}: its key is not ECDSA P-256")
    body = json.dumps({k: str(v) for k, v in fields.items()}, ensure_ascii=False, sort_keys=True).encode()
    body += b" " * (-len(body) % PAD_TO)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, referral_id, certificate_fingerprint(cert))
    return header + _SUITE.encrypt(body, public_key, info=_INFO_CONTEXT + header)


def open_identity(blob: bytes, referral_id: int, node_key_pem: bytes, node_cert_pem: bytes) -> dict[str, str]:
    """Open a blob sealed to this node for `referral_id`."""
    if len(blob) < _HEADER.size or blob[:4] != MAGIC:
        raise DisclosureError("not an aidlink referral identity (bad magic or truncated)")
    magic, version, sealed_for_referral, fingerprint = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise DisclosureError(f"unsupported referral identity format {version}")
    if sealed_for_referral != referral_id:
        raise DisclosureError(f"the identity was sealed for referral {sealed_for_referral}, not {referral_id}")
    if not hmac.compare_digest(fingerprint, certificate_fingerprint(node_cert_pem)):
        raise DisclosureError("the identity was sealed to another node certificate")
    try:
        key = load_private_key(node_key_pem, None, what="node private key")
    except KeyFileError as exc:
        raise DisclosureError(str(exc)) from None
    try:
        body = _SUITE.decrypt(bytes(blob[_HEADER.size:]), key, info=_INFO_CONTEXT + bytes(blob[:_HEADER.size]))
    except (InvalidTag, ValueError):
        raise DisclosureError(f"the identity for referral {referral_id} failed authentication "
                              f"(altered, or not sealed to this key)") from None
    return json.loads(body.decode("utf-8").rstrip(" "))
