"""End-to-end encrypted identity disclosure for referrals (Art. 14, 17).

The node holding a person seals the person's fields to the receiving node's
certificate; the matcher relays the blob and cannot open it. Sealing is
:mod:`aidlink.keys.sealing` (RFC 9180 HPKE) with purpose ``referral-identity`` and
the referral id (u64, big-endian) as the envelope's context, so a blob cannot be
opened for another referral, another recipient or as anything but an identity.
The plaintext (UTF-8 JSON) is padded to a multiple of 512 bytes so its length
does not tell names apart.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

from aidlink.keys.identity import CertificatePolicy, CertificateRejected
from aidlink.keys.sealing import SealError, SealPurpose, open_sealed, read_envelope, seal

PAD_TO = 512
IDENTITY_FIELDS = ("name", "id_number", "birth_date", "sex", "phone", "address")
PURPOSE = SealPurpose.REFERRAL_IDENTITY
_REFERRAL_ID = struct.Struct(">Q")


class DisclosureError(Exception):
    """An identity could not be sealed or opened; the message says why."""


def seal_identity(
    fields: Mapping[str, str],
    referral_id: int,
    recipient_department: str,
    recipient_cert_pem: bytes,
    ca_cert_pem: bytes,
) -> bytes:
    """Seal a person's fields for the node of `recipient_department`, after checking that the
    certificate (which came through the matcher) is a current node certificate of that
    department issued by our CA."""
    try:
        identity = CertificatePolicy(ca_cert_pem, kinds=("node",)).check(recipient_cert_pem)
    except CertificateRejected as exc:
        raise DisclosureError(f"the recipient certificate is not acceptable: {exc}") from None
    if identity.department != recipient_department:
        raise DisclosureError(
            f"the certificate given for {recipient_department} belongs to {identity.department}; refusing to disclose"
        )
    body = json.dumps({k: str(v) for k, v in fields.items()}, ensure_ascii=False, sort_keys=True).encode()
    body += b" " * (-len(body) % PAD_TO)
    try:
        return seal(body, recipient_cert_pem, purpose=PURPOSE, context=_REFERRAL_ID.pack(referral_id))
    except SealError as exc:
        raise DisclosureError(str(exc)) from None


def open_identity(blob: bytes, referral_id: int, node_key_pem: bytes, node_cert_pem: bytes) -> dict[str, str]:
    """Open a blob sealed to this node for `referral_id`."""
    expected = _REFERRAL_ID.pack(referral_id)
    try:
        envelope = read_envelope(blob)
        if envelope.purpose is PURPOSE and envelope.context != expected and len(envelope.context) == _REFERRAL_ID.size:
            (sealed_for,) = _REFERRAL_ID.unpack(envelope.context)
            raise DisclosureError(f"the identity was sealed for referral {sealed_for}, not {referral_id}")
        body = open_sealed(blob, node_key_pem, node_cert_pem, purpose=PURPOSE, context=expected)
    except SealError as exc:
        raise DisclosureError(f"the identity for referral {referral_id} cannot be opened: {exc}") from None
    return json.loads(body.decode("utf-8").rstrip(" "))
