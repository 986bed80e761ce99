"""Nothing is answered unaudited, refusals included: over real mTLS, while another process holds the
audit database's write lock (the store cannot record anything), a call the matcher would refuse is
answered UNAVAILABLE like an allowed one, not with its refusal; once the store writes again the same
call is refused and audited."""

from __future__ import annotations

import sqlite3

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

WAIT_S = 60  # guards against a hang only
COMPARE = "/aidlink.v1.Matcher/CompareDatasets"
LIST = "/aidlink.v1.Matcher/ListDatasets"


def channel_for(deployment, cert_pem: bytes, key_pem: bytes) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(deployment.ca.cert_pem, key_pem, cert_pem)
    return grpc.secure_channel(deployment.matcher.address, creds)


def node_channel(deployment, department: str) -> grpc.Channel:
    d = deployment.root / "nodes" / department
    return channel_for(deployment, (d / "node.crt").read_bytes(), (d / "node.key").read_bytes())


@pytest.fixture
def deployment(tmp_path):
    with LoopbackDeployment(tmp_path, departments=()) as deployment:
        deployment.node_dir("nhsa")
        yield deployment


def wrong_department_compare(stub):
    # nhsa names mca's dataset as its own: refused PERMISSION_DENIED by the servicer.
    return list(
        stub.CompareDatasets(
            matcher_pb2.CompareRequest(
                my_dataset="mca/low-income", other_dataset="nhsa/medical", purpose=common_pb2.ELIGIBILITY_CHECK
            ),
            timeout=WAIT_S,
        )
    )


def answer(call) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def test_a_refused_call_during_an_audit_outage_is_answered_unavailable_and_nothing_is_answered_unaudited(deployment):
    officer = deployment.ca.issue_officer("chen")
    audit_db = deployment.matcher.config.data_dir / "audit.sqlite"
    with node_channel(deployment, "nhsa") as node, channel_for(deployment, officer.cert_pem, officer.key_pem) as off:
        stub, officer_stub = matcher_pb2_grpc.MatcherStub(node), matcher_pb2_grpc.MatcherStub(off)
        calls = {
            "refused by the servicer": (COMPARE, lambda: wrong_department_compare(stub)),
            "refused by authentication": (
                LIST,
                lambda: officer_stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=WAIT_S),
            ),
            "allowed": (LIST, lambda: stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=WAIT_S)),
        }
        before = len(deployment.audit_entries())
        # The outage: another process holds the audit database's write lock.
        holder = sqlite3.connect(audit_db, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            during = {name: answer(call) for name, (_, call) in calls.items()}
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert len(deployment.audit_entries()) == before, "the store recorded a call during the outage"
        for name, (code, detail) in during.items():
            assert code == grpc.StatusCode.UNAVAILABLE, f"{name}: answered {code.name} ({detail}) unaudited"
            assert "the audit log cannot record this call" in detail, (name, detail)

        # The store writes again: the same calls get their own answers, each recorded before it.
        after = {name: answer(call) for name, (_, call) in calls.items()}
    assert after["refused by the servicer"][0] == grpc.StatusCode.PERMISSION_DENIED
    assert after["refused by authentication"][0] == grpc.StatusCode.PERMISSION_DENIED
    assert after["allowed"][0] == grpc.StatusCode.OK
    entries = deployment.audit_entries()[before:]
    assert [(e.method, e.status) for e in entries] == [
        (COMPARE, "PERMISSION_DENIED"),
        (LIST, "PERMISSION_DENIED"),
        (LIST, "OK"),
    ]
