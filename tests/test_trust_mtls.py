"""Trust over real TLS handshakes on loopback: who may call, with which
certificate, for which purpose — each refusal clear, and audited where a call exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.linkage_secret import LinkageSecret
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import audit_pb2, audit_pb2_grpc, common_pb2, gateway_pb2, matcher_pb2, matcher_pb2_grpc

UPLOADS = (
    ("mca", "low-income", "mca.low-income", ["category", "dispersed", "school_age"]),
    ("edu", "students", "edu.students", ["assistance"]),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("trust")
    population = SyntheticPopulation.generate(1500, seed=3)
    extracts = {d: department_extract(population, d, seed=3) for d in ("mca", "edu")}
    with LoopbackDeployment(root, departments=("mca", "edu"), database_url=matcher_database_url) as deployment:
        for dept, dataset, entry, attrs in UPLOADS:
            submit_rows(
                deployment.nodes[dept].stub,
                gateway_pb2.SubmitHeader(
                    dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs
                ),
                extracts[dept].rows,
            )
        yield deployment, extracts


def channel_with(deployment, cert_pem=None, key_pem=None, ca_pem=None):
    creds = grpc.ssl_channel_credentials(ca_pem or deployment.ca.cert_pem, key_pem, cert_pem)
    return grpc.secure_channel(deployment.matcher.address, creds)


def list_datasets(channel):
    return matcher_pb2_grpc.MatcherStub(channel).ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=10)


def test_a_valid_node_certificate_is_served(world):
    deployment, _ = world
    issued = deployment.ca.issue_node("hrss", level="city", division_code="320900")
    with channel_with(deployment, issued.cert_pem, issued.key_pem) as ch:
        assert list_datasets(ch).datasets
    entry = deployment.audit_entries()[-1]
    assert entry.department == "hrss" and entry.identity.startswith("aidlink://node/hrss/city/320900")


def test_no_client_certificate_fails_the_handshake(world):
    deployment, _ = world
    before = deployment.matcher.audit_log.size
    with channel_with(deployment) as ch, pytest.raises(grpc.RpcError) as err:
        list_datasets(ch)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # No call exists before the handshake completes, so there is nothing to audit.
    assert deployment.matcher.audit_log.size == before


def test_certificate_from_another_ca_fails_the_handshake(world, tmp_path):
    deployment, _ = world
    rogue = CertificateAuthority.create(tmp_path / "rogue").issue_node("edu", level="province", division_code="320000")
    with channel_with(deployment, rogue.cert_pem, rogue.key_pem) as ch, pytest.raises(grpc.RpcError) as err:
        list_datasets(ch)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_expired_certificate_is_refused(world):
    deployment, _ = world
    expired = deployment.ca.issue_node(
        "edu",
        level="province",
        division_code="320000",
        validity_days=1,
        not_before=datetime.now(UTC) - timedelta(days=3),
    )
    with channel_with(deployment, expired.cert_pem, expired.key_pem) as ch, pytest.raises(grpc.RpcError) as err:
        list_datasets(ch)
    # BoringSSL refuses it in the handshake; were it to pass, the policy would refuse and audit it.
    assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)
    if err.value.code() == grpc.StatusCode.UNAUTHENTICATED:
        assert "expired" in err.value.details()


def test_revoked_certificate_is_refused_and_audited(world):
    deployment, _ = world
    issued = deployment.ca.issue_node("housing", level="province", division_code="320000")
    with channel_with(deployment, issued.cert_pem, issued.key_pem) as ch:
        assert list_datasets(ch)
    deployment.ca.revoke(issued.serial, "key_compromise")
    deployment.refresh_crl()
    with channel_with(deployment, issued.cert_pem, issued.key_pem) as ch, pytest.raises(grpc.RpcError) as err:
        list_datasets(ch)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in err.value.details() and f"{issued.serial:#x}" in err.value.details()
    entry = deployment.audit_entries()[-1]
    assert entry.outcome == "refused" and entry.status == "UNAUTHENTICATED" and "revoked" in entry.detail


def test_outside_agreements_or_without_purpose_is_refused_and_audited(world):
    deployment, _ = world
    node = deployment.nodes["mca"].directory
    with channel_with(deployment, (node / "node.crt").read_bytes(), (node / "node.key").read_bytes()) as ch:
        stub = matcher_pb2_grpc.MatcherStub(ch)
        with pytest.raises(grpc.RpcError) as err:  # mca has no agreement to read edu's data for eligibility
            list(
                stub.CompareDatasets(
                    matcher_pb2.CompareRequest(
                        my_dataset="low-income", other_dataset="edu/students", purpose=common_pb2.ELIGIBILITY_CHECK
                    )
                )
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "art14-1b.edu-to-mca" in err.value.details()
        assert "does not allow purpose 'eligibility-check'" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            list(
                stub.CompareDatasets(matcher_pb2.CompareRequest(my_dataset="low-income", other_dataset="edu/students"))
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "a declared purpose is required" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:  # the caller's department comes from its certificate
            list(
                stub.CompareDatasets(
                    matcher_pb2.CompareRequest(
                        my_dataset="edu/students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
                    )
                )
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "belongs to edu" in err.value.details()
    refused = [e for e in deployment.audit_entries()[-3:]]
    assert [e.outcome for e in refused] == ["refused"] * 3
    assert refused[0].purpose == "eligibility-check" and refused[0].department == "mca"
    assert refused[1].status == "INVALID_ARGUMENT"


def test_officers_read_the_audit_trail_and_nodes_do_not(world):
    deployment, _ = world
    officer = deployment.ca.issue_officer("wang.officer")
    node = deployment.nodes["edu"].directory
    with channel_with(deployment, officer.cert_pem, officer.key_pem) as ch:
        entries = list(audit_pb2_grpc.AuditTrailStub(ch).Query(audit_pb2.AuditQuery(department="edu")))
        assert entries
        with pytest.raises(grpc.RpcError) as err:
            list_datasets(ch)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "Matcher is for node" in err.value.details()
    with channel_with(deployment, (node / "node.crt").read_bytes(), (node / "node.key").read_bytes()) as ch:
        with pytest.raises(grpc.RpcError) as err:
            list(audit_pb2_grpc.AuditTrailStub(ch).Query(audit_pb2.AuditQuery()))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    last = deployment.audit_entries()[-1]
    assert last.method.startswith("/aidlink.v1.AuditTrail/") and last.outcome == "refused"


def test_plaintext_only_behind_the_dev_flag_on_loopback(tmp_path):
    with pytest.raises(ValueError, match="plaintext is only allowed with the explicit development flag"):
        MatcherServer(MatcherConfig(data_dir=tmp_path / "a", listen="127.0.0.1:0"))
    with pytest.raises(ValueError, match="loopback"):
        MatcherServer(MatcherConfig(data_dir=tmp_path / "b", listen="0.0.0.0:0", insecure_dev=True))


def _compare(deployment, dept="edu"):
    events = list(
        deployment.nodes[dept].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(
                my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
            )
        )
    )
    return sorted((m.record_id, m.attributes["category"]) for e in events for m in local_matches(e))


def test_rotation_never_compares_across_versions(world):
    deployment, extracts = world
    before = _compare(deployment)
    assert before
    # The custodian rotates; edu re-encodes and re-uploads first, mca has not yet.
    deployment.secret = LinkageSecret.generate(2)
    for dept in ("edu", "mca"):
        deployment.nodes[dept].channel.close()
        deployment.nodes[dept].server.stop(grace=1)
        deployment.add_node(dept)
    dept, dataset, entry, attrs = UPLOADS[1]
    submit_rows(
        deployment.nodes[dept].stub,
        gateway_pb2.SubmitHeader(dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs),
        extracts[dept].rows,
    )
    with pytest.raises(grpc.RpcError) as err:
        _compare(deployment)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "secret version 2 and 1" in err.value.details()
    dept, dataset, entry, attrs = UPLOADS[0]
    submit_rows(
        deployment.nodes[dept].stub,
        gateway_pb2.SubmitHeader(dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs),
        extracts[dept].rows,
    )
    assert _compare(deployment) == before
