"""The matcher's call interceptors over real gRPC on loopback: a caller that goes away is CANCELLED
(audited as cancelled, no traceback), each domain refusal gets its one status, and authentication
is refused and audited before any servicer runs."""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
import numpy as np
import pytest

from aidlink.audit.log import AuditLog
from aidlink.audit.open_store import open_audit_store
from aidlink.database.url import sqlite_url
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.matcher import errors
from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER, DevelopmentAuthenticator, NotAllowed, Unauthenticated
from aidlink.matcher.interceptors import call_interceptors
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

INFO = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint="test")
COMPARE = "/aidlink.v1.Matcher/CompareDatasets"
WAIT_S = 60  # guards against a hang only: every wait below ends on a condition


def encodings(n: int, seed: int) -> np.ndarray:
    return np.packbits(np.random.default_rng(seed).random((n, 1024)) < 0.3, axis=1)


def upload(stub, dataset: str, entry: str, rows: np.ndarray, attributes: dict[str, str]):
    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=dataset,
                catalog_entry=entry,
                catalog_version="2023.1",
                encoding=INFO,
                attributes=list(attributes),
            )
        )
        yield matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(
                records=[
                    matcher_pb2.EncodedRecord(ref=f"r{i}", encoding=e.tobytes(), attributes=attributes)
                    for i, e in enumerate(rows)
                ]
            )
        )

    return stub.UploadDataset(chunks(), timeout=WAIT_S)


def channel_for(deployment, cert_pem: bytes, key_pem: bytes, options=()):
    creds = grpc.ssl_channel_credentials(deployment.ca.cert_pem, key_pem, cert_pem)
    return grpc.secure_channel(deployment.matcher.address, creds, options=list(options))


def node_channel(deployment, department: str, options=()):
    d = deployment.root / "nodes" / department
    return channel_for(deployment, (d / "node.crt").read_bytes(), (d / "node.key").read_bytes(), options)


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("interceptors")
    with LoopbackDeployment(root, departments=(), database_url=matcher_database_url) as deployment:
        for department in ("mca", "nhsa"):
            deployment.node_dir(department)
        with node_channel(deployment, "mca") as ch:
            upload(
                matcher_pb2_grpc.MatcherStub(ch),
                "low-income",
                "mca.low-income",
                encodings(2000, 1),
                {"category": "dibao"},
            )
        with node_channel(deployment, "nhsa") as ch:
            upload(
                matcher_pb2_grpc.MatcherStub(ch),
                "medical",
                "nhsa.medical",
                encodings(6000, 2),
                {"serious_illness": "1"},
            )
        yield deployment


def new_entries(deployment, before: int, method: str, count: int = 1) -> list:
    """The audit entries for `method` after the first `before` entries, once `count` are there."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = [e for e in deployment.audit_entries()[before:] if e.method == method]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_client_that_cancels_a_streaming_compare_is_audited_cancelled_without_a_traceback(world, caplog):
    deployment = world
    caplog.set_level(logging.DEBUG)
    exchange = deployment.matcher.exchange
    saved = exchange.blocking, exchange.join_path.chunk_rows
    # A progress message after each of nhsa's 6000 records: after the first one the comparison is
    # still running, and the progress not read yet fills the stream's flow-control window.
    exchange.blocking, exchange.join_path.chunk_rows = False, 1
    before = len(deployment.audit_entries())
    try:
        with node_channel(deployment, "nhsa", options=[("grpc.http2.bdp_probe", 0)]) as ch:
            events = matcher_pb2_grpc.MatcherStub(ch).CompareDatasets(
                matcher_pb2.CompareRequest(
                    my_dataset="medical", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
                ),
                timeout=WAIT_S,
            )
            first = next(events)
            assert first.WhichOneof("event") == "progress" and first.progress.done < first.progress.total
            events.cancel()
            with pytest.raises(grpc.RpcError) as err:
                list(events)
            assert err.value.code() == grpc.StatusCode.CANCELLED
        [entry] = new_entries(deployment, before, COMPARE)
    finally:
        exchange.blocking, exchange.join_path.chunk_rows = saved
    assert (entry.outcome, entry.status) == ("cancelled", "CANCELLED")
    assert entry.department == "nhsa" and entry.purpose == "eligibility-check"
    assert "cancelled" in entry.detail and "matches" not in entry.counts
    served = [r for r in caplog.records if r.name.startswith(("aidlink", "grpc"))]
    assert not [r for r in served if r.exc_info or r.levelno >= logging.ERROR], [
        r.getMessage() for r in served if r.exc_info or r.levelno >= logging.ERROR
    ]
    assert "Traceback" not in caplog.text and "internal error" not in caplog.text


def test_an_upload_whose_deadline_passes_mid_stream_is_audited_deadline_exceeded_and_stores_nothing(world, caplog):
    deployment = world
    caplog.set_level(logging.DEBUG)
    release = threading.Event()

    def chunks():  # the header, then nothing until the call is over
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset="abandoned",
                catalog_entry="nhsa.medical",
                catalog_version="2023.1",
                encoding=INFO,
                attributes=["serious_illness"],
            )
        )
        release.wait(WAIT_S)

    before = len(deployment.audit_entries())
    with node_channel(deployment, "nhsa") as ch:
        stub = matcher_pb2_grpc.MatcherStub(ch)
        try:
            with pytest.raises(grpc.RpcError) as err:
                stub.UploadDataset(chunks(), timeout=2.0)
        finally:
            release.set()
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        [entry] = new_entries(deployment, before, "/aidlink.v1.Matcher/UploadDataset")
        listed = stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=WAIT_S)
    assert (entry.outcome, entry.status, entry.department) == ("cancelled", "DEADLINE_EXCEEDED", "nhsa")
    assert entry.detail == "the caller's deadline passed before the answer"
    assert "nhsa/abandoned" not in {d.dataset for d in listed.datasets}
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _refused(deployment, stub_call, code: grpc.StatusCode, detail: str, method: str):
    before = len(deployment.audit_entries())
    with pytest.raises(grpc.RpcError) as err:
        stub_call()
    assert err.value.code() == code, err.value.details()
    assert detail in err.value.details()
    [entry] = new_entries(deployment, before, method)
    assert (entry.outcome, entry.status) == ("refused", code.name) and detail in entry.detail
    return entry


def test_each_domain_refusal_from_the_real_servicers_gets_its_status_and_is_audited(world):
    deployment = world
    with node_channel(deployment, "nhsa") as ch:
        stub = matcher_pb2_grpc.MatcherStub(ch)

        def compare(**kw):
            return lambda: list(stub.CompareDatasets(matcher_pb2.CompareRequest(**kw), timeout=WAIT_S))

        def query(encoding: bytes, info=INFO):
            return lambda: stub.QueryStatus(
                matcher_pb2.StatusQuery(
                    dataset="mca/low-income",
                    encoding=encoding,
                    encoding_info=info,
                    purpose=common_pb2.ELIGIBILITY_CHECK,
                ),
                timeout=WAIT_S,
            )

        cases = [  # (call, the refusal raised, its status, what the message names)
            (
                compare(my_dataset="medical", other_dataset="mca/low-income"),
                errors.InvalidInput,
                "a declared purpose is required",
                COMPARE,
            ),
            (
                compare(
                    my_dataset="medical", other_dataset="mca/no-such-dataset", purpose=common_pb2.ELIGIBILITY_CHECK
                ),
                errors.NotFound,
                "no-such-dataset",
                COMPARE,
            ),
            (
                compare(
                    my_dataset="mca/low-income", other_dataset="nhsa/medical", purpose=common_pb2.ELIGIBILITY_CHECK
                ),
                errors.NotPermitted,
                "belongs to mca",
                COMPARE,
            ),
            (
                query(
                    encodings(1, 9)[0].tobytes(),
                    common_pb2.EncodingInfo(bits=1024, secret_version=2, schema_fingerprint="test"),
                ),
                errors.Incompatible,
                "linkage-secret version 2 and 1",
                "/aidlink.v1.Matcher/QueryStatus",
            ),
            (
                query(b"\x00" * 9000, common_pb2.EncodingInfo(bits=72000, secret_version=1, schema_fingerprint="test")),
                errors.TooLarge,
                "larger than any supported encoding",
                "/aidlink.v1.Matcher/QueryStatus",
            ),
        ]
        for call, refusal, detail, method in cases:
            entry = _refused(deployment, call, getattr(grpc.StatusCode, refusal.status), detail, method)
            assert entry.department == "nhsa"
    officer = deployment.ca.issue_officer("chen")
    with channel_for(deployment, officer.cert_pem, officer.key_pem) as ch:
        entry = _refused(
            deployment,
            lambda: matcher_pb2_grpc.MatcherStub(ch).ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=WAIT_S),
            grpc.StatusCode.PERMISSION_DENIED,
            "is a officer identity; aidlink.v1.Matcher is for node",
            "/aidlink.v1.Matcher/ListDatasets",
        )
    assert entry.department == ""


# -- the interceptors around a servicer that raises -------------------------------------------------
class RaisingMatcher(matcher_pb2_grpc.MatcherServicer):
    """Raises what the test asks for: unary (ListDatasets) and after a progress message (CompareDatasets)."""

    def __init__(self) -> None:
        self.error: Exception = RuntimeError()
        self.reached = 0

    def ListDatasets(self, request, context):
        self.reached += 1
        raise self.error

    def CompareDatasets(self, request, context):
        from aidlink.matcher.calls import current_call

        self.reached += 1
        current_call().preliminary = True
        yield matcher_pb2.CompareEvent(progress=matcher_pb2.CompareProgress(done=0, total=1))
        raise self.error


@pytest.fixture(scope="module")
def raising(tmp_path_factory):
    path = tmp_path_factory.mktemp("raising") / "audit.sqlite"
    audit_log = AuditLog(open_audit_store(sqlite_url(path)), checkpoint_interval=None)
    servicer = RaisingMatcher()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2), interceptors=call_interceptors(audit_log, DevelopmentAuthenticator())
    )
    matcher_pb2_grpc.add_MatcherServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield servicer, matcher_pb2_grpc.MatcherStub(channel), audit_log
    finally:
        channel.close()
        server.stop(0).wait()
        audit_log.close()


def last_entry(audit_log):
    return list(audit_log.store.scan())[-1].entry


REFUSALS = [
    errors.Refused,
    errors.InvalidInput,
    errors.NotFound,
    errors.NotPermitted,
    errors.Incompatible,
    errors.TooLarge,
    Unauthenticated,
    NotAllowed,
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: r.__name__)
def test_a_servicer_raising_a_domain_refusal_gets_its_mapped_status(raising, refusal):
    servicer, stub, audit_log = raising
    servicer.error = refusal("dataset mca/x: the reason, named")
    expected = getattr(grpc.StatusCode, refusal.status)
    md = [(DEV_DEPARTMENT_HEADER, "nhsa")]
    for call in (
        lambda: stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), metadata=md, timeout=WAIT_S),
        lambda: list(stub.CompareDatasets(matcher_pb2.CompareRequest(), metadata=md, timeout=WAIT_S)),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == expected
        assert err.value.details() == str(servicer.error) and "the reason, named" in err.value.details()
        entry = last_entry(audit_log)
        assert (entry.outcome, entry.status, entry.department) == ("refused", expected.name, "nhsa")


def test_a_fault_is_internal_without_its_message_and_logged_once_with_its_traceback(raising, caplog):
    servicer, stub, audit_log = raising
    caplog.set_level(logging.INFO)
    servicer.error = KeyError("secret internal detail")
    with pytest.raises(grpc.RpcError) as err:
        stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), metadata=[(DEV_DEPARTMENT_HEADER, "nhsa")], timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert err.value.details() == "internal error (KeyError); the call was recorded"
    entry = last_entry(audit_log)
    assert (entry.outcome, entry.status) == ("error", "INTERNAL") and "secret" not in entry.detail
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and logged[0].name.startswith("aidlink") and "ListDatasets" in logged[0].getMessage()


def test_an_unauthenticated_call_is_refused_and_audited_before_any_servicer_runs(raising):
    servicer, stub, audit_log = raising
    reached = servicer.reached
    with pytest.raises(grpc.RpcError) as err:
        stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details().startswith("authentication failed: development mode: header")
    entry = last_entry(audit_log)
    assert (entry.outcome, entry.status, entry.department) == ("refused", "UNAUTHENTICATED", "")
    assert entry.detail == err.value.details()
    assert servicer.reached == reached
