"""gRPC AuditTrail service for officers' review consoles: a thin layer over the read side.

Every call first runs `authorize(context)`, which must abort the call (e.g.
``context.abort(PERMISSION_DENIED, ...)``) unless the caller holds an officer
certificate; the servicer itself grants nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc

from aidlink.audit.log import unverified_checkpoint
from aidlink.audit.query import EntryFilter, parse_time, stored_time
from aidlink.audit.reader import AuditReader, ProofRequestError
from aidlink.audit.report import ReportOptions, build_report
from aidlink.audit.store import StoredEntry
from aidlink.v1 import audit_pb2, audit_pb2_grpc

Authorize = Callable[[grpc.ServicerContext], None]


def record(row: StoredEntry) -> audit_pb2.AuditRecord:
    e = row.entry
    return audit_pb2.AuditRecord(
        seq=row.seq,
        body=row.body,
        leaf_hash=row.leaf_hash,
        time=e.time,
        method=e.method,
        outcome=e.outcome,
        status=e.status,
        department=e.department,
        identity=e.identity,
        purpose=e.purpose,
        agreement=e.agreement,
        datasets=list(e.datasets),
        counts=dict(e.counts),
        detail=e.detail,
        peer=e.peer,
    )


def _filter(q: audit_pb2.AuditQuery) -> EntryFilter:
    return EntryFilter(
        department=q.department or None,
        identity=q.identity or None,
        method=q.method or None,
        purpose=q.purpose or None,
        agreement=q.agreement or None,
        dataset=q.dataset or None,
        outcome=q.outcome or None,
        since=stored_time(parse_time(q.since)) if q.since else None,
        until=stored_time(parse_time(q.until)) if q.until else None,
        from_seq=q.from_seq if q.HasField("from_seq") else None,
        to_seq=q.to_seq if q.HasField("to_seq") else None,
    )


class AuditTrailServicer(audit_pb2_grpc.AuditTrailServicer):
    def __init__(self, reader: AuditReader, authorize: Authorize) -> None:
        self.reader = reader
        self.authorize = authorize

    def Query(self, request: audit_pb2.AuditQuery, context: grpc.ServicerContext) -> Iterator[audit_pb2.AuditRecord]:
        self.authorize(context)
        try:
            where = _filter(request)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        rows = self.reader.store.query(where, limit=request.limit or None, newest_first=request.newest_first)
        for row in rows:
            yield record(row)

    def GetCheckpoint(self, request, context: grpc.ServicerContext) -> audit_pb2.SignedCheckpoint:
        self.authorize(context)
        stored = self.reader.latest_checkpoint()
        if stored is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "the audit log has not issued a checkpoint yet")
            raise AssertionError("abort raises")
        cp = unverified_checkpoint(stored.note)
        return audit_pb2.SignedCheckpoint(
            note=stored.note,
            origin=cp.origin,
            tree_size=cp.size,
            root=cp.root,
            issued=stored.time,
            number=stored.number,
        )

    def ProveInclusion(self, request: audit_pb2.InclusionRequest, context) -> audit_pb2.InclusionProof:
        self.authorize(context)
        try:
            p = self.reader.inclusion(request.seq, request.tree_size or None)
        except ProofRequestError as exc:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, str(exc))
        return audit_pb2.InclusionProof(
            seq=p.seq,
            tree_size=p.size,
            leaf_hash=p.leaf_hash,
            hashes=list(p.hashes),
            root=p.root,
            checkpoint_note=p.checkpoint or b"",
        )

    def ProveConsistency(self, request: audit_pb2.ConsistencyRequest, context) -> audit_pb2.ConsistencyProof:
        self.authorize(context)
        try:
            p = self.reader.consistency(request.size1, request.size2 or None)
        except ProofRequestError as exc:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, str(exc))
        return audit_pb2.ConsistencyProof(
            size1=p.size1,
            size2=p.size2,
            root1=p.root1,
            root2=p.root2,
            hashes=list(p.hashes),
            checkpoint1_note=p.checkpoint1 or b"",
            checkpoint2_note=p.checkpoint2 or b"",
        )

    def Report(self, request: audit_pb2.ReportRequest, context) -> audit_pb2.AuditReport:
        self.authorize(context)
        try:
            since, until = parse_time(request.since), parse_time(request.until)
            options = ReportOptions(baseline_days=request.baseline_days or ReportOptions.baseline_days)
            report = build_report(self.reader.store, since, until, options)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return audit_pb2.AuditReport(
            since=since.isoformat(),
            until=until.isoformat(),
            total=report.total,
            counts=[
                audit_pb2.DepartmentCount(department=r.department, purpose=r.purpose, outcome=r.outcome, count=r.count)
                for r in report.rows
            ],
            anomalies=[
                audit_pb2.Anomaly(kind=a.kind, department=a.department, count=a.count, message=a.message)
                for a in report.anomalies
            ],
        )


def add_to_server(server: grpc.Server, reader: AuditReader, authorize: Authorize) -> AuditTrailServicer:
    """Register the AuditTrail service on `server`; returns the servicer."""
    servicer = AuditTrailServicer(reader, authorize)
    audit_pb2_grpc.add_AuditTrailServicer_to_server(servicer, server)
    return servicer
