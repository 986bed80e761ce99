"""Offline exchange on removable media (Art. 10): encrypted, signed bundle files.

A bundle is one file (layout in proto/aidlink/v1/bundle.proto)::

    "ALBN" | format 2 | u32 len | BundleEnvelope | u32 len | sealed envelope | u16 len | signature

The payload is sealed to the recipient certificate with :mod:`aidlink.keys.sealing` (RFC 9180
HPKE), purpose ``offline-bundle``, with the SHA-256 of the header as the sealed envelope's
context, so the payload cannot be moved under another header; the sender signs every byte before the signature
with its certificate's ECDSA P-256 key (SHA-256). The envelope carries a random bundle id
(a bundle is imported once), the sender's certificate (checked against the custodian's CA
and CRL), the recipient certificate's fingerprint, and created/expires times.

Node side: `export_dataset_bundle` runs the node's record pipeline and builds the same
upload messages an online submit sends (gateway.matcher_client), into a bundle, and
`read_result_bundle` opens the matcher's answer and resolves references to record ids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aidlink.keys.identity import (
    CertificatePolicy,
    CertificateRejected,
    IdentityError,
    NodeIdentity,
    certificate_fingerprint,
    identity_from_pem,
    load_certificate,
)
from aidlink.keys.key_files import load_private_key
from aidlink.keys.sealing import SealError, SealPurpose, open_sealed, seal
from aidlink.v1 import bundle_pb2, matcher_pb2

MAGIC = b"ALBN"
FORMAT_VERSION = 2  # 2: the payload is an aidlink.keys.sealing envelope
KINDS = ("dataset", "result")
DEFAULT_LIFETIME = timedelta(days=14)
MAX_LIFETIME = timedelta(days=90)
CLOCK_SKEW = timedelta(minutes=10)
PURPOSE = SealPurpose.OFFLINE_BUNDLE
_PREFIX = struct.Struct(">4sBI")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


class BundleError(Exception):
    """A bundle refused; `problem` names the kind (malformed, truncated, tampered, untrusted,
    misaddressed, expired, replayed, undecryptable, wrong-kind) and the message says why."""

    STATUS = {
        "malformed": "INVALID_ARGUMENT",
        "truncated": "INVALID_ARGUMENT",
        "tampered": "INVALID_ARGUMENT",
        "untrusted": "UNAUTHENTICATED",
        "misaddressed": "PERMISSION_DENIED",
        "expired": "FAILED_PRECONDITION",
        "replayed": "ALREADY_EXISTS",
        "undecryptable": "INVALID_ARGUMENT",
        "wrong-kind": "INVALID_ARGUMENT",
    }

    def __init__(
        self,
        problem: str,
        message: str,
        envelope: bundle_pb2.BundleEnvelope | None = None,
        sender: NodeIdentity | None = None,
    ) -> None:
        super().__init__(message)
        self.problem, self.envelope, self.sender = problem, envelope, sender

    @property
    def status(self) -> str:
        return self.STATUS.get(self.problem, "INVALID_ARGUMENT")


@dataclass(frozen=True)
class OpenedBundle:
    envelope: bundle_pb2.BundleEnvelope
    sender: NodeIdentity
    payload: bytes


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _utc(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now.astimezone(UTC)


# -- sealing -------------------------------------------------------------------------------------
def seal_bundle(
    kind: str,
    payload: bytes,
    *,
    sender_key_pem: bytes,
    sender_cert_pem: bytes,
    recipient_cert_pem: bytes,
    lifetime: timedelta = DEFAULT_LIFETIME,
    now: datetime | None = None,
    bundle_id: str | None = None,
) -> bytes:
    """Encrypt `payload` to the recipient certificate and sign the whole file with the sender's key."""
    if kind not in KINDS:
        raise ValueError(f"bundle kind {kind!r} must be one of {KINDS}")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(f"bundle lifetime {lifetime} must be positive and at most {MAX_LIFETIME.days} days")
    sender_cert, recipient_cert = load_certificate(sender_cert_pem), load_certificate(recipient_cert_pem)
    key = load_private_key(sender_key_pem, None, what="sender private key")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != sender_cert.public_key():
        raise ValueError("the sender private key does not belong to the sender certificate")
    created = _utc(now)
    envelope = bundle_pb2.BundleEnvelope(
        bundle_id=bundle_id or secrets.token_hex(16),
        kind=kind,
        sender_certificate=sender_cert.public_bytes(serialization.Encoding.DER),
        recipient_fingerprint=certificate_fingerprint(recipient_cert),
        created=_rfc3339(created),
        expires=_rfc3339(created + lifetime),
    ).SerializeToString()
    header = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(envelope)) + envelope
    try:
        ciphertext = seal(payload, recipient_cert, purpose=PURPOSE, context=_header_digest(header))
    except SealError as exc:
        raise ValueError(str(exc)) from None
    signed = header + _U32.pack(len(ciphertext)) + ciphertext
    signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    return signed + _U16.pack(len(signature)) + signature


def _header_digest(header: bytes) -> bytes:
    return hashlib.sha256(header).digest()


# -- opening -------------------------------------------------------------------------------------
def _parse(blob: bytes) -> tuple[bytes, bundle_pb2.BundleEnvelope, bytes, bytes, bytes]:
    """(header, envelope, ciphertext, signed part, signature) or BundleError."""
    if len(blob) < 4 or blob[:4] != MAGIC:
        raise BundleError("malformed", f"not an aidlink bundle: expected magic {MAGIC!r}, found {bytes(blob[:4])!r}")
    if len(blob) < _PREFIX.size:
        raise BundleError("truncated", f"bundle is truncated: {len(blob)} bytes, the header alone needs {_PREFIX.size}")
    _, fmt, env_len = _PREFIX.unpack_from(blob)
    if fmt != FORMAT_VERSION:
        raise BundleError("malformed", f"unsupported bundle format {fmt} (this build reads {FORMAT_VERSION})")
    pos = _PREFIX.size + env_len
    if len(blob) < pos + _U32.size:
        raise BundleError("truncated", f"bundle is truncated: {len(blob)} bytes, its envelope alone ends at {pos}")
    header = bytes(blob[:pos])
    envelope = bundle_pb2.BundleEnvelope()
    try:
        envelope.ParseFromString(header[_PREFIX.size :])
    except Exception:  # protobuf's DecodeError
        raise BundleError("tampered", "bundle envelope is not readable: the file was altered") from None
    (ct_len,) = _U32.unpack_from(blob, pos)
    ct_end = pos + _U32.size + ct_len
    if len(blob) < ct_end + _U16.size:
        raise BundleError(
            "truncated",
            f"bundle {envelope.bundle_id or '?'} is truncated: {len(blob)} bytes, "
            f"its payload alone ends at byte {ct_end}",
            envelope,
        )
    (sig_len,) = _U16.unpack_from(blob, ct_end)
    end = ct_end + _U16.size + sig_len
    if len(blob) != end:
        problem = "truncated" if len(blob) < end else "tampered"
        raise BundleError(
            problem,
            f"bundle {envelope.bundle_id or '?'} has {len(blob)} bytes but its structure "
            f"says {end}: it was {problem if problem == 'truncated' else 'altered'}",
            envelope,
        )
    return (
        header,
        envelope,
        bytes(blob[pos + _U32.size : ct_end]),
        bytes(blob[:ct_end]),
        bytes(blob[ct_end + _U16.size :]),
    )


def open_bundle(
    blob: bytes,
    *,
    kind: str,
    recipient_key_pem: bytes,
    recipient_cert_pem: bytes,
    ca_cert_pem: bytes,
    crl_pem: bytes | None = None,
    sender_kinds: Sequence[str] = ("node",),
    ledger: BundleLedger | None = None,
    now: datetime | None = None,
) -> OpenedBundle:
    """Verify and decrypt a bundle, or raise BundleError saying exactly why it is refused."""
    now = _utc(now)
    header, envelope, ciphertext, signed, signature = _parse(blob)
    bid = envelope.bundle_id or "?"
    try:
        sender_cert = load_certificate(envelope.sender_certificate)
        claimed = identity_from_pem(sender_cert)
    except (ValueError, IdentityError) as exc:
        raise BundleError("tampered", f"bundle {bid}: sender certificate unreadable ({exc})", envelope) from None
    sender_public_key = sender_cert.public_key()
    try:
        if not isinstance(sender_public_key, ec.EllipticCurvePublicKey):
            raise TypeError("the sender certificate's key is not an ECDSA key")
        sender_public_key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError):
        raise BundleError(
            "tampered",
            f"bundle {bid}: signature does not verify with the key of "
            f"{claimed.uri}: the file was altered after it was signed",
            envelope,
        ) from None
    try:
        sender = CertificatePolicy(ca_cert_pem, crl_pem, kinds=sender_kinds).check(sender_cert, now=now)
    except CertificateRejected as exc:
        raise BundleError("untrusted", f"bundle {bid}: sender not trusted: {exc}", envelope) from None
    if envelope.kind != kind:
        raise BundleError(
            "wrong-kind", f"bundle {bid} is a {envelope.kind!r} bundle; expected {kind!r}", envelope, sender
        )
    recipient_cert = load_certificate(recipient_cert_pem)
    mine = certificate_fingerprint(recipient_cert)
    if not hmac.compare_digest(mine, envelope.recipient_fingerprint):
        raise BundleError(
            "misaddressed",
            f"bundle {bid} from {sender.uri} is addressed to certificate "
            f"sha256:{envelope.recipient_fingerprint.hex()[:16]}…, not to "
            f"{identity_from_pem(recipient_cert).uri} (sha256:{mine.hex()[:16]}…)",
            envelope,
            sender,
        )
    try:
        created = datetime.fromisoformat(envelope.created.replace("Z", "+00:00"))
        expires = datetime.fromisoformat(envelope.expires.replace("Z", "+00:00"))
    except ValueError:
        raise BundleError(
            "malformed", f"bundle {bid}: created/expires are not RFC 3339 times", envelope, sender
        ) from None
    if now > expires:
        raise BundleError(
            "expired",
            f"bundle {bid} from {sender.uri} expired at {envelope.expires} "
            f"(checked at {_rfc3339(now)}); export a new bundle",
            envelope,
            sender,
        )
    if created > now + CLOCK_SKEW:
        raise BundleError(
            "malformed", f"bundle {bid} claims to be created at {envelope.created}, in the future", envelope, sender
        )
    if ledger is not None and ledger.seen(envelope.bundle_id):
        raise BundleError(
            "replayed",
            f"bundle {bid} from {sender.uri} was already imported; a bundle is imported once",
            envelope,
            sender,
        )
    try:
        payload = open_sealed(
            ciphertext, recipient_key_pem, recipient_cert, purpose=PURPOSE, context=_header_digest(header)
        )
    except SealError as exc:
        raise BundleError(
            "undecryptable", f"bundle {bid} could not be decrypted with this recipient's key: {exc}", envelope, sender
        ) from None
    return OpenedBundle(envelope, sender, payload)


class BundleLedger:
    """Bundle ids already imported, so that a copied or re-inserted medium is refused."""

    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS imported_bundles (bundle_id TEXT PRIMARY KEY,"
            " sender TEXT NOT NULL, imported_at REAL NOT NULL)"
        )
        self._lock = threading.Lock()

    def seen(self, bundle_id: str) -> bool:
        with self._lock:
            return (
                self._conn.execute("SELECT 1 FROM imported_bundles WHERE bundle_id=?", (bundle_id,)).fetchone()
                is not None
            )

    def claim(self, bundle_id: str, sender: str) -> bool:
        """Mark the bundle imported; False if it already was (a concurrent replay)."""
        with self._lock:
            try:
                self._conn.execute("INSERT INTO imported_bundles VALUES (?,?,?)", (bundle_id, sender, time.time()))
                return True
            except sqlite3.IntegrityError:
                return False

    def release(self, bundle_id: str) -> None:
        """Forget a claim whose import failed before anything was stored."""
        with self._lock:
            self._conn.execute("DELETE FROM imported_bundles WHERE bundle_id=?", (bundle_id,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# -- the node's side -----------------------------------------------------------------------------
@dataclass
class ExportedBundle:
    blob: bytes
    bundle_id: str
    rows: int
    records: int
    problems: list = field(default_factory=list)  # gateway.node.RowProblem, rows not encoded


def export_dataset_bundle(
    node,
    dataset: str,
    catalog_entry: str,
    catalog_version: str,
    rows: Iterable[Mapping[str, str]],
    *,
    attributes: Sequence[str] = (),
    id_column: str = "rec_id",
    compare: Sequence[bundle_pb2.BundleCompareRequest] = (),
    key_pem: bytes,
    cert_pem: bytes,
    matcher_cert_pem: bytes,
    lifetime: timedelta = DEFAULT_LIFETIME,
    now: datetime | None = None,
) -> ExportedBundle:
    """Encode `rows` with the node's record pipeline and matcher messages, exactly as an online
    submit does (same references kept in the node's map), and seal them, with the comparisons
    asked for, to the matcher's certificate."""
    from aidlink.gateway.matcher_client import encoded_record, upload_header

    tag = node.refs.new_tag()
    attributes = node.attributes_for(catalog_entry, catalog_version, attributes)
    prepared = node.prepare(rows, catalog_entry, catalog_version, tag=tag, id_column=id_column, attributes=attributes)
    records = [encoded_record(r) for r in prepared]
    node.refs.save(tag, f"{node.department}/{dataset}", 0, prepared.record_ids, prepared.refs)
    upload = upload_header(dataset, catalog_entry, catalog_version, node.pipeline.parameters, attributes)
    payload = bundle_pb2.DatasetBundle(header=upload, records=records, compare=list(compare))
    blob = seal_bundle(
        "dataset",
        payload.SerializeToString(),
        sender_key_pem=key_pem,
        sender_cert_pem=cert_pem,
        recipient_cert_pem=matcher_cert_pem,
        lifetime=lifetime,
        now=now,
    )
    header, envelope, *_ = _parse(blob)
    return ExportedBundle(blob, envelope.bundle_id, prepared.rows, len(records), prepared.problems)


@dataclass(frozen=True)
class BundleResult:
    request: matcher_pb2.CompareRequest
    summary: matcher_pb2.CompareSummary | None
    matches: list  # gateway.node.LocalMatch, resolved to this node's record ids
    refused: str


@dataclass(frozen=True)
class NodeResults:
    in_reply_to: str
    upload: matcher_pb2.UploadSummary
    comparisons: list[BundleResult]


def read_result_bundle(
    blob: bytes,
    *,
    refs,
    key_pem: bytes,
    cert_pem: bytes,
    ca_cert_pem: bytes,
    crl_pem: bytes | None = None,
    ledger: BundleLedger | None = None,
    now: datetime | None = None,
) -> NodeResults:
    """Verify the matcher's result bundle (signed by a matcher certificate, addressed to this node)
    and resolve its references to this node's record ids."""
    from aidlink.gateway.node import LocalMatch

    opened = open_bundle(
        blob,
        kind="result",
        recipient_key_pem=key_pem,
        recipient_cert_pem=cert_pem,
        ca_cert_pem=ca_cert_pem,
        crl_pem=crl_pem,
        sender_kinds=("matcher",),
        ledger=ledger,
        now=now,
    )
    result = bundle_pb2.ResultBundle()
    result.ParseFromString(opened.payload)
    if ledger is not None and not ledger.claim(opened.envelope.bundle_id, opened.sender.uri):
        raise BundleError("replayed", f"bundle {opened.envelope.bundle_id} was already read", opened.envelope)
    comparisons = [
        BundleResult(
            c.request,
            c.summary if c.HasField("summary") else None,
            [LocalMatch(refs.resolve(m.my_ref), m.score, dict(m.attributes), m.disputed) for m in c.matches],
            c.refused,
        )
        for c in result.comparisons
    ]
    return NodeResults(result.in_reply_to, result.upload, comparisons)
