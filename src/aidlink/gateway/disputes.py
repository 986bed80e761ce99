"""A node's side of disputes over doubtful or wrong data (Art. 20, 23).

The node flags one of its own records (by its local record id) that matched
another department's dataset; it reads its dispute inbox (resuming after the
last notification it handled) with references resolved back to its own record
ids; as a provider it acknowledges, confirms, rejects or corrects a disputed
record, re-encoding the corrected row itself so raw identifiers never leave it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aidlink.gateway.node import GatewayNode
from aidlink.gateway.refs import ReferenceMap, UnknownReference
from aidlink.gateway.state_files import private_file
from aidlink.v1 import common_pb2, disputes_pb2, disputes_pb2_grpc


class UnknownRecord(LookupError):
    pass


@dataclass(frozen=True)
class NodeDisputeEvent:
    seq: int
    kind: str
    dispute: disputes_pb2.Dispute
    record_id: str  # this node's own record the dispute is about ('' if not resolvable)


class InboxCursor:
    """The last inbox notification this node handled, kept beside its reference map."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def get(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def set(self, seq: int) -> None:
        tmp = private_file(self.path.with_suffix(".tmp"))
        with open(tmp, "w") as fh:
            fh.write(str(seq))
        tmp.replace(self.path)


def ref_for_record(refs_db: Path, dataset: str, record_id: str) -> str:
    """The reference this node sent for `record_id` in its latest upload of `dataset` ("<dept>/<name>")."""
    with sqlite3.connect(f"file:{refs_db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT ref FROM (SELECT o.ref AS ref, u.version AS version, u.created_at AS created_at"
            " FROM opaque_refs o JOIN uploads u ON u.tag = o.tag WHERE u.dataset=? AND o.record_id=?"
            " UNION ALL SELECT r.tag || '.' || r.row, u.version, u.created_at"  # uploads before opaque refs
            " FROM refs r JOIN uploads u ON u.tag = r.tag WHERE u.dataset=? AND r.record_id=?)"
            " ORDER BY version DESC, created_at DESC LIMIT 1",
            (dataset, record_id, dataset, record_id),
        ).fetchone()
    if row is None:
        raise UnknownRecord(f"record {record_id!r} was not uploaded by this node in dataset {dataset}")
    return str(row[0])


class NodeDisputes:
    def __init__(
        self, node: GatewayNode, stub: disputes_pb2_grpc.DisputesStub, refs: ReferenceMap, state_dir: Path
    ) -> None:
        self.node, self.stub, self.refs = node, stub, refs
        self.state_dir = Path(state_dir)
        self.cursor = InboxCursor(self.state_dir / "dispute-inbox.cursor")

    # -- as the user department -------------------------------------------------------------
    def flag(
        self,
        my_dataset: str,
        record_id: str,
        other_dataset: str,
        purpose: common_pb2.Purpose,
        reason: str,
        threshold: float = 0.0,
    ) -> disputes_pb2.Dispute:
        qualified = my_dataset if "/" in my_dataset else f"{self.node.department}/{my_dataset}"
        ref = ref_for_record(self.state_dir / "references.sqlite", qualified, record_id)
        return self.stub.Flag(
            disputes_pb2.FlagRequest(
                my_dataset=qualified.partition("/")[2],
                my_ref=ref,
                other_dataset=other_dataset,
                purpose=purpose,
                reason=reason,
                threshold=threshold,
            )
        )

    # -- both sides ---------------------------------------------------------------------------
    def inbox(self, after: int | None = None, wait_seconds: int = 0, commit: bool = True) -> list[NodeDisputeEvent]:
        """Notifications after `after` (default: the last one handled); moves the cursor on."""
        start = self.cursor.get() if after is None else after
        events = [
            NodeDisputeEvent(e.seq, e.kind, e.dispute, self.record_id(e.dispute))
            for e in self.stub.Inbox(disputes_pb2.InboxRequest(after=start, wait_seconds=wait_seconds))
        ]
        if commit and events:
            self.cursor.set(max(start, events[-1].seq))
        return events

    def list(self, role: str = "", open_only: bool = False) -> list[disputes_pb2.Dispute]:
        return list(self.stub.ListDisputes(disputes_pb2.ListDisputesRequest(role=role, open_only=open_only)).disputes)

    def record_id(self, dispute: disputes_pb2.Dispute) -> str:
        ref = dispute.provider_ref or dispute.user_ref
        try:
            return self.refs.resolve(ref) if ref else ""
        except UnknownReference:
            return ""

    # -- as the provider ----------------------------------------------------------------------
    def acknowledge(self, dispute_id: str, note: str = "") -> disputes_pb2.Dispute:
        return self._respond(dispute_id, disputes_pb2.ACKNOWLEDGE, note)

    def confirm(self, dispute_id: str, reason: str) -> disputes_pb2.Dispute:
        return self._respond(dispute_id, disputes_pb2.CONFIRM, reason)

    def reject(self, dispute_id: str, reason: str) -> disputes_pb2.Dispute:
        return self._respond(dispute_id, disputes_pb2.REJECT, reason)

    def correct(
        self, dispute_id: str, row: Mapping[str, str], attributes: Sequence[str], reason: str = ""
    ) -> disputes_pb2.Dispute:
        """Re-encode the corrected raw row here and send only its encoding and catalog attributes."""
        record = self.node.pipeline.prepare(row, attributes=attributes)
        return self.stub.CorrectRecord(
            disputes_pb2.CorrectRecordRequest(
                dispute_id=dispute_id,
                encoding=record.encoding,
                encoding_info=self.node.encoding_info,
                attributes=record.attributes,
                blocking_keys=list(record.blocking_tokens),
                reason=reason,
            )
        )

    def _respond(self, dispute_id: str, action: disputes_pb2.RespondAction, reason: str) -> disputes_pb2.Dispute:
        return self.stub.Respond(disputes_pb2.RespondRequest(dispute_id=dispute_id, action=action, reason=reason))
