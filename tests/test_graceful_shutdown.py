"""Graceful shutdown: health flips to NOT_SERVING, the in-flight call finishes,
new calls are refused, and the audit log holds every answered call."""

from __future__ import annotations

import threading

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aidlink.audit.store import SQLiteAuditStore
from aidlink.gateway.match_batches import remote_matches
from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

INFO = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint="test")


def upload(stub, department, dataset, entry, encodings, attributes):
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
                    for i, e in enumerate(encodings)
                ]
            )
        )

    return stub.UploadDataset(chunks(), metadata=[(DEV_DEPARTMENT_HEADER, department)])


def test_stop_lets_the_call_in_flight_finish(tmp_path):
    server = MatcherServer(
        MatcherConfig(data_dir=tmp_path, listen="127.0.0.1:0", insecure_dev=True, health_listen="127.0.0.1:0")
    ).start()
    encodings = np.packbits(np.random.default_rng(3).random((4000, 1024)) < 0.3, axis=1)
    channel = grpc.insecure_channel(server.address)
    stub = matcher_pb2_grpc.MatcherStub(channel)
    # mca holds as many records again that nhsa does not: nhsa's answer reveals half of mca's records,
    # the most an agreement allows by default (matcher.policy volume limits).
    others = np.packbits(np.random.default_rng(4).random((4000, 1024)) < 0.3, axis=1)
    upload(stub, "mca", "low-income", "mca.low-income", np.concatenate([encodings, others]), {"category": "dibao"})
    upload(stub, "nhsa", "medical", "nhsa.medical", encodings, {"serious_illness": "1"})
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{server.health_port}"))
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING

    # A large answer: the client reads slowly, so the call is still streaming when stop begins.
    events = stub.CompareDatasets(
        matcher_pb2.CompareRequest(
            my_dataset="medical", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK, all_pairs=True
        ),
        metadata=[(DEV_DEPARTMENT_HEADER, "nhsa")],
    )
    first = next(events)
    stopping = threading.Thread(target=server.stop, kwargs={"grace": 30})
    stopping.start()
    for _ in range(200):  # health flips before the in-flight call is done
        status = health.Check(health_pb2.HealthCheckRequest()).status
        if status == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    rest = list(events)
    matches = [m for e in [first, *rest] for m in remote_matches(e)]
    assert len(matches) == 4000 and rest[-1].WhichOneof("event") == "summary"
    stopping.join(timeout=60)
    assert not stopping.is_alive()
    try:
        stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), metadata=[(DEV_DEPARTMENT_HEADER, "nhsa")], timeout=5)
        raise AssertionError("a call after shutdown was answered")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE
    channel.close()
    store = SQLiteAuditStore(tmp_path / "audit.sqlite", read_only=True)
    try:
        entries = [row.entry for row in store.scan()]
    finally:
        store.close()
    compare = [e for e in entries if e.method.endswith("CompareDatasets")]
    assert len(compare) == 1 and compare[0].outcome == "allowed" and compare[0].counts["matches"] == 4000
