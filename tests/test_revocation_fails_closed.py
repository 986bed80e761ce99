"""Revocation fails closed, over real mTLS on loopback with the CRL as a real file: a matcher
without a CRL does not start; a CRL missing, corrupt, of another CA or expired refuses every
authenticated call UNAVAILABLE (message naming the CRL problem, never a server path), and the
refusal is audited; a good CRL written later is picked up without a restart."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.keys.authority import CertificateAuthority
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import matcher_pb2, matcher_pb2_grpc


def list_datasets(deployment, issued):
    creds = grpc.ssl_channel_credentials(deployment.ca.cert_pem, issued.key_pem, issued.cert_pem)
    with grpc.secure_channel(deployment.matcher.address, creds) as channel:
        return matcher_pb2_grpc.MatcherStub(channel).ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=10)


def refused_unavailable(deployment, issued, problem: str) -> str:
    """Call ListDatasets, expect UNAVAILABLE naming ``problem``, and the refusal audited; return the message."""
    before = len(deployment.audit_entries())
    with pytest.raises(grpc.RpcError) as err:
        list_datasets(deployment, issued)
    details = err.value.details()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, details
    assert "revocation" in details and problem in details, details
    assert str(deployment.root) not in details and "/" not in details.split("(aidlink keys crl)")[0]
    entries = deployment.audit_entries()
    assert len(entries) == before + 1
    entry = entries[-1]
    assert entry.method == "/aidlink.v1.Matcher/ListDatasets"
    assert entry.status == "UNAVAILABLE" and entry.outcome != "ok" and problem in entry.detail
    return details


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with LoopbackDeployment(tmp_path_factory.mktemp("revocation"), departments=()) as d:
        yield d


@pytest.fixture
def crl_file(deployment):
    path = deployment.matcher.config.tls.crl
    yield path
    deployment.refresh_crl()  # the next test starts from a good CRL


@pytest.fixture(scope="module")
def node(deployment):
    return deployment.ca.issue_node("hrss", level="city", division_code="320900")


def test_a_matcher_with_tls_but_no_crl_does_not_start(tmp_path):
    d = LoopbackDeployment(tmp_path)
    tls = d.matcher_tls()
    tls.crl = None
    with pytest.raises(ValueError, match=r"certificate revocation list \(crl\.pem in --tls-dir"):
        MatcherServer(MatcherConfig(data_dir=tmp_path / "data", listen="127.0.0.1:0", tls=tls))


def test_started_without_the_crl_file_refuses_calls_until_one_is_written(tmp_path):
    d = LoopbackDeployment(tmp_path, departments=())
    tls = d.matcher_tls()
    tls.crl.unlink()
    d.matcher = MatcherServer(
        MatcherConfig(data_dir=tmp_path / "data", listen="127.0.0.1:0", tls=tls, audit_key=d.audit_key_path)
    ).start()
    try:
        node = d.ca.issue_node("mca", level="province", division_code="320000")
        refused_unavailable(d, node, "is missing")
        d.refresh_crl()  # the custodian's CRL arrives: no restart needed
        assert list_datasets(d, node) is not None
        assert d.audit_entries()[-1].status == "OK"
    finally:
        d.matcher.stop(grace=1)


def test_a_crl_deleted_while_running_refuses_calls_and_a_new_one_is_picked_up(deployment, crl_file, node):
    list_datasets(deployment, node)
    crl_file.unlink()
    refused_unavailable(deployment, node, "is missing")
    deployment.refresh_crl()
    list_datasets(deployment, node)


@pytest.mark.parametrize(
    "content",
    [b"", b"-----BEGIN X509 CRL-----\nnot base64 at all\n-----END X509 CRL-----\n", os.urandom(600)],
    ids=["empty", "garbled-pem", "random-bytes"],
)
def test_a_corrupt_crl_refuses_calls(deployment, crl_file, node, content):
    crl_file.write_bytes(content)
    refused_unavailable(deployment, node, "not usable")
    deployment.refresh_crl()
    list_datasets(deployment, node)


def test_a_crl_of_another_ca_refuses_calls(deployment, crl_file, node, tmp_path):
    crl_file.write_bytes(CertificateAuthority.create(tmp_path / "rogue").crl_pem())
    refused_unavailable(deployment, node, "not signed by this CA")


def test_an_expired_crl_refuses_calls(deployment, crl_file, node):
    crl_file.write_bytes(deployment.ca.crl_pem(next_update_days=1, now=datetime.now(UTC) - timedelta(days=3)))
    refused_unavailable(deployment, node, "expired at")


def test_an_unreadable_crl_refuses_calls(deployment, crl_file, node):
    crl_file.unlink()
    crl_file.mkdir()  # unreadable as a file, even to root
    try:
        refused_unavailable(deployment, node, "cannot be read")
    finally:
        crl_file.rmdir()
