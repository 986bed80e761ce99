"""Every field is bounded before it is logged. Over real mTLS, requests carrying a 12 MiB dataset
name (compare and upload) or a 12 MiB dispute reason are refused INVALID_ARGUMENT naming the field
and its size, and each costs the audit log less than 1 KiB (measured on the stored entries, and on
the real SQLite files); an entry appended with oversized fields is cut at append time and says how
long each was."""

from __future__ import annotations

import grpc
import pytest

from aidlink.audit.entry import AuditEntry
from aidlink.audit.log import AuditLog
from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.v1 import common_pb2, disputes_pb2, disputes_pb2_grpc, matcher_pb2, matcher_pb2_grpc

WAIT_S = 60  # guards against a hang only
HUGE = 12 * 1024 * 1024  # 12 MiB: under the matcher's 16 MiB message limit
INFO = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint="test")


def node_channel(deployment, department: str) -> grpc.Channel:
    d = deployment.root / "nodes" / department
    creds = grpc.ssl_channel_credentials(
        deployment.ca.cert_pem, (d / "node.key").read_bytes(), (d / "node.crt").read_bytes()
    )
    return grpc.secure_channel(deployment.matcher.address, creds)


def store_bytes(deployment) -> int:
    """The audit store's size on disk: the SQLite file and its write-ahead log."""
    data = deployment.matcher.config.data_dir
    return sum(p.stat().st_size for p in data.glob("audit.sqlite*") if p.suffix != ".sqlite-shm")


@pytest.fixture
def deployment(tmp_path):
    with LoopbackDeployment(tmp_path, departments=()) as deployment:
        deployment.node_dir("nhsa")
        yield deployment


def refused(call) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return err.value.details()


def test_a_12_mib_dataset_name_or_reason_is_refused_with_its_size_and_costs_the_log_under_1_kib(deployment):
    name = "n" * HUGE
    with node_channel(deployment, "nhsa") as ch:
        stub, disputes = matcher_pb2_grpc.MatcherStub(ch), disputes_pb2_grpc.DisputesStub(ch)
        stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=WAIT_S)  # the store's pages exist
        before, size_before = len(deployment.audit_entries()), store_bytes(deployment)

        compare = refused(
            lambda: list(
                stub.CompareDatasets(
                    matcher_pb2.CompareRequest(
                        my_dataset=name, other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
                    ),
                    timeout=WAIT_S,
                )
            )
        )
        assert compare.startswith(f"my_dataset: {HUGE} bytes;"), compare[:200]

        def chunks():
            yield matcher_pb2.UploadChunk(
                header=matcher_pb2.UploadHeader(
                    dataset=name, catalog_entry="nhsa.medical", catalog_version="2023.1", encoding=INFO
                )
            )

        upload = refused(lambda: stub.UploadDataset(chunks(), timeout=WAIT_S))
        assert f"has {HUGE} characters" in upload and "header.dataset" in upload, upload[:200]

        flag = refused(
            lambda: disputes.Flag(
                disputes_pb2.FlagRequest(
                    my_dataset="medical", my_ref="r1", other_dataset="mca/low-income", reason="r" * HUGE
                ),
                timeout=WAIT_S,
            )
        )
        assert flag.startswith(f"reason: {HUGE} bytes;"), flag[:200]
        for detail in (compare, upload, flag):
            assert len(detail) < 300 and "nnnnnnnnnn" not in detail and "rrrrrrrrrr" not in detail

    entries = deployment.audit_entries()[before:]
    assert [(e.method.rsplit("/", 1)[-1], e.status) for e in entries] == [
        ("CompareDatasets", "INVALID_ARGUMENT"),
        ("UploadDataset", "INVALID_ARGUMENT"),
        ("Flag", "INVALID_ARGUMENT"),
    ]
    for entry in entries:
        assert entry.department == "nhsa"  # the refusal is still attributed to its caller
        assert len(entry.canonical_bytes()) < 1024, (entry.method, len(entry.canonical_bytes()))
        assert str(HUGE) in entry.detail  # the size, not the content
    store = deployment.open_audit_store()
    try:
        stored = [row for row in store.scan() if row.seq >= before]
    finally:
        store.close()
    assert all(len(row.body) < 1024 for row in stored), [len(row.body) for row in stored]
    # The real files: three refusals grow the store by a few pages, not 36 MiB.
    growth = store_bytes(deployment) - size_before
    assert growth < 256 * 1024, f"the audit store grew by {growth} bytes"


def test_an_entry_with_oversized_fields_is_cut_when_appended_and_says_how_long_each_was(tmp_path):
    log = AuditLog(SQLiteAuditStore(tmp_path / "audit.sqlite"), checkpoint_interval=None)
    try:
        seq = log.append(
            AuditEntry(
                time="2026-01-01T00:00:00.000000Z",
                method="/aidlink.v1.Matcher/CompareDatasets",
                outcome="refused",
                status="INVALID_ARGUMENT",
                department="d" * HUGE,
                purpose="p" * 5000,
                datasets=("x" * HUGE, "ok") + tuple(f"more{i}" for i in range(100)),
                counts={"k" * 10_000: 1},
                detail="e" * HUGE,
            )
        )
        [row] = [r for r in log.store.scan() if r.seq == seq]
    finally:
        log.close()
    entry = row.entry
    assert len(row.body) < 4096, len(row.body)
    assert entry.department.endswith(f"[truncated: {HUGE} characters]")
    assert entry.purpose.endswith("[truncated: 5000 characters]")
    assert entry.detail.endswith(f"[truncated: {HUGE} characters]")
    assert entry.datasets[0].endswith(f"[truncated: {HUGE} characters]") and entry.datasets[1] == "ok"
    assert entry.datasets[-1] == "[94 more datasets]"
    assert [k.endswith("[truncated: 10000 characters]") for k in entry.counts] == [True]
