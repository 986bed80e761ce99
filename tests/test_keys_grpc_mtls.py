"""Issued certificates work for a real gRPC mTLS handshake; strangers do not get in.

The server runs the stock grpc.health.v1 service; its Check also applies the custodian's
CertificatePolicy to the peer certificate from the auth context, as the matcher's interceptor does.
"""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from aidlink.keys import CertificateAuthority, CertificatePolicy, CertificateRejected

TIMEOUT_S = 10  # guards against a hang only; nothing here is timed


class PolicyCheckingHealth(health.HealthServicer):
    def __init__(self, policy: CertificatePolicy) -> None:
        super().__init__()
        self.policy = policy
        self.callers: list[str] = []

    def Check(self, request, context):
        pem = context.auth_context()["x509_pem_cert"][0]
        try:
            self.callers.append(self.policy.check(pem).uri)
        except CertificateRejected as exc:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        return super().Check(request, context)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("custody")
    ca = CertificateAuthority.create(base / "ca")
    return {
        "ca": ca,
        "matcher": ca.issue_matcher(),
        "node": ca.issue_node("mca", level="city", division_code="320900"),
        "revoked": ca.issue_node("edu", level="city", division_code="320900"),
        "stranger": CertificateAuthority.create(base / "other").issue_node("mca", level="city", division_code="320900"),
    }


@pytest.fixture(scope="module")
def server(pki):
    ca = pki["ca"]
    ca.revoke(pki["revoked"].serial, "key_compromise")
    servicer = PolicyCheckingHealth(CertificatePolicy(ca.cert_pem, ca.crl_pem()))
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, srv)
    credentials = grpc.ssl_server_credentials(
        [(pki["matcher"].key_pem, pki["matcher"].cert_pem)], root_certificates=ca.cert_pem, require_client_auth=True
    )
    port = srv.add_secure_port("127.0.0.1:0", credentials)
    srv.start()
    yield port, servicer
    srv.stop(grace=None)


def check(port: int, ca_pem: bytes, client=None) -> health_pb2.HealthCheckResponse:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)


def test_node_certificate_completes_mtls_and_is_identified(pki, server):
    port, servicer = server
    response = check(port, pki["ca"].cert_pem, pki["node"])
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    assert servicer.callers[-1] == "aidlink://node/mca/city/320900"


def test_client_without_certificate_fails_the_handshake(pki, server):
    port, _ = server
    with pytest.raises(grpc.RpcError) as caught:
        check(port, pki["ca"].cert_pem, None)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_with_certificate_from_another_ca_fails_the_handshake(pki, server):
    port, servicer = server
    calls_before = len(servicer.callers)
    with pytest.raises(grpc.RpcError) as caught:
        check(port, pki["ca"].cert_pem, pki["stranger"])
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(servicer.callers) == calls_before


def test_revoked_certificate_passes_tls_but_policy_refuses_it(pki, server):
    port, _ = server
    with pytest.raises(grpc.RpcError) as caught:
        check(port, pki["ca"].cert_pem, pki["revoked"])
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "revoked at" in caught.value.details() and "edu.320900.node.aidlink" in caught.value.details()


def test_node_refuses_a_server_from_another_ca(pki, server):
    port, _ = server
    other_ca_pem = CertificateAuthority.create(pki["ca"].directory.parent / "third").cert_pem
    with pytest.raises(grpc.RpcError) as caught:
        check(port, other_ca_pem, pki["node"])
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
