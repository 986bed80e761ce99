"""The AuditTrail gRPC service on a real loopback server, behind an authorize callable."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidlink.audit.checkpoint import open_checkpoint
from aidlink.audit.entry import AuditEntry
from aidlink.audit.log import AuditLog
from aidlink.audit.merkle import hash_leaf, verify_consistency, verify_inclusion
from aidlink.audit.note import NoteVerifier
from aidlink.audit.reader import AuditReader
from aidlink.audit.service import add_to_server
from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.v1 import audit_pb2, audit_pb2_grpc

ORIGIN = "aidlink.audit/service-test"
OFFICER = ("x-test-role", "officer")


def authorize(context: grpc.ServicerContext) -> None:
    if dict(context.invocation_metadata()).get(OFFICER[0]) != OFFICER[1]:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "the audit trail is for security officers only")


@pytest.fixture
def stub(tmp_path):
    key = Ed25519PrivateKey.generate()
    log = AuditLog(
        SQLiteAuditStore(tmp_path / "audit.sqlite"), signing_key=key, origin=ORIGIN, checkpoint_interval=None
    )
    for i in range(12):
        log.append(
            AuditEntry(
                time=f"2024-05-01T0{i % 4}:00:00.000000Z",
                method="/aidlink.v1.Matcher/QueryStatus",
                outcome="refused" if i % 4 == 3 else "allowed",
                status="OK",
                department=("mca", "edu")[i % 2],
                purpose="referral",
                datasets=("mca/roster",),
                counts={"i": i},
            )
        )
        if i == 4:
            log.checkpoint()
    log.checkpoint()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_to_server(server, AuditReader(log.store), authorize)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield audit_pb2_grpc.AuditTrailStub(channel), NoteVerifier.from_public_key(ORIGIN, key.public_key())
    channel.close()
    server.stop(None)
    log.close()


def test_query_streams_matching_entries_with_verifiable_bodies(stub):
    client, _ = stub
    records = list(client.Query(audit_pb2.AuditQuery(department="edu", outcome="refused"), metadata=[OFFICER]))
    assert [r.seq for r in records] == [3, 7, 11]
    assert all(r.leaf_hash == hash_leaf(r.body) and r.counts["i"] == r.seq for r in records)
    newest = list(client.Query(audit_pb2.AuditQuery(limit=2, newest_first=True, from_seq=1), metadata=[OFFICER]))
    assert [r.seq for r in newest] == [11, 10]


def test_checkpoint_and_proofs_verify_with_the_public_key(stub):
    client, verifier = stub
    signed = client.GetCheckpoint(audit_pb2.GetCheckpointRequest(), metadata=[OFFICER])
    cp = open_checkpoint(signed.note, verifier, ORIGIN)
    assert (cp.size, signed.tree_size, signed.number) == (12, 12, 2)
    proof = client.ProveInclusion(audit_pb2.InclusionRequest(seq=6), metadata=[OFFICER])
    body = next(client.Query(audit_pb2.AuditQuery(from_seq=6, to_seq=6), metadata=[OFFICER])).body
    verify_inclusion(hash_leaf(body), 6, cp.size, list(proof.hashes), cp.root)
    old = client.ProveInclusion(audit_pb2.InclusionRequest(seq=0, tree_size=5), metadata=[OFFICER])
    first = open_checkpoint(old.checkpoint_note, verifier, ORIGIN)
    consistency = client.ProveConsistency(audit_pb2.ConsistencyRequest(size1=5), metadata=[OFFICER])
    assert consistency.size2 == 12
    verify_consistency(first.size, cp.size, list(consistency.hashes), first.root, cp.root)


def test_report_over_grpc(stub):
    client, _ = stub
    report = client.Report(
        audit_pb2.ReportRequest(since="2024-05-01T00:00Z", until="2024-05-02T00:00Z"), metadata=[OFFICER]
    )
    assert report.total == 12
    counts = {(c.department, c.outcome): c.count for c in report.counts}
    assert counts == {("mca", "allowed"): 6, ("edu", "allowed"): 3, ("edu", "refused"): 3}


def test_bad_requests_and_outsiders_are_refused(stub):
    client, _ = stub
    with pytest.raises(grpc.RpcError) as err:
        client.GetCheckpoint(audit_pb2.GetCheckpointRequest())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        list(client.Query(audit_pb2.AuditQuery(department="mca")))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        client.ProveInclusion(audit_pb2.InclusionRequest(seq=99), metadata=[OFFICER])
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
    with pytest.raises(grpc.RpcError) as err:
        list(client.Query(audit_pb2.AuditQuery(outcome="maybe"), metadata=[OFFICER]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "outcome" in err.value.details()
