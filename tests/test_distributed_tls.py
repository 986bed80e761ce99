"""The Dask join over TLS: a LocalCluster whose scheduler, workers and client use
certificates from an aidlink CertificateAuthority (a CA of the cluster's own)."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from aidlink.bench.kernel import make_datasets  # noqa: E402
from aidlink.keys.authority import CertificateAuthority  # noqa: E402
from aidlink.matcher.distributed import DaskJoinBackend, dask_security  # noqa: E402
from aidlink.matcher.similarity import candidate_pairs, pack  # noqa: E402

HOSTS = ("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask-pki")
    ca = CertificateAuthority.create(root / "cluster-ca", name="aidlink dask cluster CA")
    return ca, root


@pytest.fixture(scope="module")
def tls_cluster(pki):
    ca, _ = pki
    node = ca.issue_matcher(hosts=HOSTS)  # scheduler, workers (and LocalCluster's own client)
    security = dask_security(ca.cert_pem, node.cert_pem, node.key_pem)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        protocol="tls",
        host="127.0.0.1",
        security=security,
        dashboard_address=None,
    ) as cluster:
        yield cluster


def test_join_over_tls_gives_the_local_kernels_pairs(pki, tls_cluster, tmp_path):
    ca, _ = pki
    assert tls_cluster.scheduler_address.startswith("tls://")
    matcher = ca.issue_matcher(hosts=HOSTS)
    # PEM files on disk, as the matcher's settings would name them.
    cert_path, key_path = matcher.write(tmp_path, "dask-client")
    ca_path = tmp_path / "ca.crt"
    ca_path.write_bytes(ca.cert_pem)
    security = dask_security(ca_path, cert_path, key_path, roles=("client",))
    query, dataset = make_datasets(1500, 1024, 0.5, seed=4)
    with DaskJoinBackend(tls_cluster.scheduler_address, security=security, partitions=3) as backend:
        assert backend.client.scheduler.address.startswith("tls://")
        backend.load("mca/low-income", dataset)
        got = backend.candidate_pairs(query, "mca/low-income", 0.8)
    expected = candidate_pairs(pack(query), pack(dataset), 0.8)
    assert len(expected) > 500
    assert np.array_equal(got.a_index, expected.a_index)
    assert np.array_equal(got.b_index, expected.b_index)
    assert got.scores.tobytes() == expected.scores.tobytes()


def test_a_client_without_a_certificate_from_the_cluster_ca_is_refused(pki, tls_cluster):
    ca, root = pki
    with pytest.raises(ValueError, match=r"the Dask scheduler at tls://\S+ speaks TLS: pass security="):
        DaskJoinBackend(tls_cluster.scheduler_address, connect_timeout=3)
    stranger_ca = CertificateAuthority.create(root / "department-ca", name="another CA")
    stranger = stranger_ca.issue_matcher(hosts=HOSTS)
    # Trusts the cluster's CA but presents a certificate the cluster does not trust.
    security = dask_security(ca.cert_pem, stranger.cert_pem, stranger.key_pem, roles=("client",))
    with pytest.raises(ConnectionError, match=r"(?i)cannot reach the Dask scheduler.*(unknown ca|SSL)"):
        DaskJoinBackend(tls_cluster.scheduler_address, security=security, connect_timeout=3)


def test_dask_security_refuses_material_that_is_not_pem(tmp_path):
    with pytest.raises(ValueError, match="Dask TLS CA certificate: expected PEM contents or a file path"):
        dask_security(b"not a certificate", b"-----BEGIN x", b"-----BEGIN y")
    with pytest.raises(FileNotFoundError, match="Dask TLS private key: no file at"):
        dask_security(b"-----BEGIN a", b"-----BEGIN b", tmp_path / "missing.key")
    with pytest.raises(ValueError, match="roles must be among client, scheduler, worker"):
        dask_security(b"-----BEGIN a", b"-----BEGIN b", b"-----BEGIN c", roles=("gateway",))
