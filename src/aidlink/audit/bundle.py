"""Self-contained evidence bundles: entries, their inclusion proofs and a signed checkpoint.

A bundle is one JSON document; anyone with the audit public key checks it
offline: the checkpoint's signature, then each entry's inclusion in that
checkpoint's tree. The verifier key written in the bundle is informational;
only the key the checker supplies is trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from aidlink.audit.checkpoint import CheckpointError, open_checkpoint
from aidlink.audit.entry import AuditEntry
from aidlink.audit.log import unverified_checkpoint
from aidlink.audit.merkle import ProofError, hash_leaf, verify_inclusion
from aidlink.audit.note import NoteError
from aidlink.audit.query import EntryFilter
from aidlink.audit.reader import AuditReader, b64
from aidlink.audit.verifier_key import VerifierKey

T = TypeVar("T")

BUNDLE_FORMAT = "aidlink-audit-bundle/1"


class BundleError(ValueError):
    """A bundle cannot be made, or does not verify; the message names the entry at fault."""


@dataclass(frozen=True)
class BundleCheck:
    origin: str
    tree_size: int
    entries: int
    first_seq: int | None
    last_seq: int | None
    key_name: str
    bundle_key_differs: bool


@dataclass(frozen=True)
class ExportResult:
    bundle: dict[str, Any]
    entries: int
    left_out_after_checkpoint: int  # matching entries newer than the checkpoint, not exported


def export_bundle(reader: AuditReader, where: EntryFilter, key: VerifierKey) -> ExportResult:
    """A bundle of the entries matching `where` that the newest checkpoint covers."""
    stored = reader.latest_checkpoint()
    if stored is None:
        raise BundleError("the log has no signed checkpoint yet; a bundle needs one")
    origin = unverified_checkpoint(stored.note).origin
    verifier = key.for_origin(origin)
    try:
        cp = open_checkpoint(stored.note, verifier)
    except (NoteError, CheckpointError) as exc:
        raise BundleError(
            f"the newest checkpoint (#{stored.number}) does not verify with {key.source}: {exc}"
        ) from None
    last = cp.size - 1
    covered = replace(where, to_seq=last if where.to_seq is None else min(where.to_seq, last))
    rows = reader.store.query(covered) if cp.size else []
    newer = reader.store.query(replace(where, from_seq=max(where.from_seq or 0, cp.size)))
    entries = []
    for row in rows:
        proof = reader.inclusion(row.seq, cp.size)
        if proof.leaf_hash != hash_leaf(row.body):
            raise BundleError(f"entry {row.seq} does not match its leaf hash; run `aidlink audit verify`")
        entries.append({"seq": row.seq, "body": row.body.decode("utf-8"), "proof": [b64(h) for h in proof.hashes]})
    bundle = {
        "format": BUNDLE_FORMAT,
        "origin": origin,
        "verifier_key": verifier.vkey(),
        "checkpoint": stored.note.decode("utf-8"),
        "entries": entries,
    }
    return ExportResult(bundle, len(entries), len(newer))


def _field(data: dict[str, Any], name: str, kind: type[T], where: str) -> T:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BundleError(f"{where}: field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def verify_bundle(raw: bytes | str, key: VerifierKey) -> BundleCheck:
    """Check a bundle with only the trusted public `key`; raises BundleError naming what fails."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BundleError(f"bundle is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"not an audit bundle (format must be {BUNDLE_FORMAT!r})")
    note = str(_field(data, "checkpoint", str, "bundle")).encode("utf-8")
    try:
        origin = unverified_checkpoint(note).origin
        verifier = key.for_origin(origin)
        cp = open_checkpoint(note, verifier)
    except (NoteError, CheckpointError) as exc:
        raise BundleError(f"the bundle's checkpoint does not verify with {key.source}: {exc}") from None
    entries = _field(data, "entries", list, "bundle")
    previous = -1
    item: Any
    for i, item in enumerate(entries):
        where = f"bundle entry #{i}"
        if not isinstance(item, dict):
            raise BundleError(f"{where} is not an object")
        seq = int(_field(item, "seq", int, where))
        where = f"entry {seq} (bundle entry #{i})"
        if seq <= previous:
            raise BundleError(f"{where} is out of order or repeated (after entry {previous})")
        previous = seq
        body = str(_field(item, "body", str, where)).encode("utf-8")
        try:
            proof = [base64.b64decode(h, validate=True) for h in _field(item, "proof", list, where)]
        except (binascii.Error, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: proof is not a list of base64 hashes: {exc}") from None
        try:
            entry = AuditEntry.from_canonical_bytes(body)
        except (ValueError, TypeError) as exc:
            raise BundleError(f"{where}: body is not an audit entry: {exc}") from None
        if entry.seq != seq:
            raise BundleError(f"{where}: body records position {entry.seq}, not {seq}")
        if entry.canonical_bytes() != body:
            raise BundleError(f"{where}: body is not in canonical form")
        try:
            verify_inclusion(hash_leaf(body), seq, cp.size, proof, cp.root)
        except ProofError as exc:
            raise BundleError(f"{where} is not in the log signed at size {cp.size}: {exc}") from None
    seqs = [item["seq"] for item in entries]
    return BundleCheck(
        cp.origin,
        cp.size,
        len(entries),
        seqs[0] if seqs else None,
        seqs[-1] if seqs else None,
        verifier.name,
        data.get("verifier_key") != verifier.vkey(),
    )
