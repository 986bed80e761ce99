"""The matcher with join_backend = "dask": real MatcherServers (plaintext dev mode, real gRPC,
SQLite audit) against a real multi-process distributed.LocalCluster. CompareDatasets and
QueryStatus answer exactly as with join_backend = "local"; a worker killed mid-join is either
recovered or refused as UNAVAILABLE (never a partial answer), and audited; partition timings
appear on the matcher's /metrics."""

from __future__ import annotations

import re
import urllib.request

import grpc
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from aidlink.audit.store import SQLiteAuditStore  # noqa: E402
from aidlink.bench.kernel import make_datasets  # noqa: E402
from aidlink.gateway.match_batches import remote_matches  # noqa: E402
from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER  # noqa: E402
from aidlink.matcher.distributed import DaskJoinBackend, LocalJoinBackend  # noqa: E402
from aidlink.matcher.server import MatcherConfig, MatcherServer  # noqa: E402
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc  # noqa: E402
from tests.test_distributed_join import KillWorkerOnJoin, worker_killing_cluster  # noqa: E402

WORKERS = 2
INFO = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint="test-schema")
CATEGORIES = ("dibao", "tekun", "linshi")  # art14-2a admits dibao/tekun rows of mca's data, not linshi
PROVIDER = "mca/low-income"  # qualified name on the matcher
JOIN_KEY = f"{PROVIDER}@v1"  # its name on the join backend and in metrics


@pytest.fixture(scope="module")
def cluster():
    with worker_killing_cluster(dashboard_address=":0") as (cluster, client):
        yield cluster, client


@pytest.fixture(scope="module")
def data():
    a, b = make_datasets(1500, 1024, 0.5, seed=23)
    return a[:1200], b  # hrss's 1200 records; mca's 1500, half near-copies of hrss rows


def _upload(stub, department: str, name: str, entry: str, encodings: np.ndarray, attributes) -> None:
    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=name,
                catalog_entry=entry,
                catalog_version="2023.1",
                encoding=INFO,
                attributes=sorted({k for a in attributes for k in a}),
            )
        )
        yield matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(
                records=[
                    matcher_pb2.EncodedRecord(ref=f"{department}-{i}", encoding=row.tobytes(), attributes=attrs)
                    for i, (row, attrs) in enumerate(zip(encodings, attributes))
                ]
            )
        )

    summary = stub.UploadDataset(chunks(), metadata=[(DEV_DEPARTMENT_HEADER, department)])
    assert summary.accepted == len(encodings)


class Matcher:
    """A dev-mode MatcherServer with the two datasets uploaded WITHOUT blocking keys."""

    def __init__(self, root, data, **config) -> None:
        self.root = root
        self.server = MatcherServer(
            MatcherConfig(
                data_dir=root,
                listen="127.0.0.1:0",
                insecure_dev=True,
                metrics_port=0,
                checkpoint_interval=0.2,
                **config,
            )
        ).start()
        self.channel = grpc.insecure_channel(self.server.address)
        self.stub = matcher_pb2_grpc.MatcherStub(self.channel)
        hrss, mca = data
        _upload(self.stub, "hrss", "employment", "hrss.employment", hrss, [{}] * len(hrss))
        _upload(
            self.stub,
            "mca",
            "low-income",
            "mca.low-income",
            mca,
            [{"category": CATEGORIES[i % 3]} for i in range(len(mca))],
        )

    def compare(self, all_pairs: bool):
        events = list(
            self.stub.CompareDatasets(
                matcher_pb2.CompareRequest(
                    my_dataset="employment",
                    other_dataset=PROVIDER,
                    purpose=common_pb2.POLICY_DELIVERY_CHECK,
                    threshold=0.8,
                    all_pairs=all_pairs,
                ),
                metadata=[(DEV_DEPARTMENT_HEADER, "hrss")],
            )
        )
        matches = [(m.my_ref, m.score, dict(m.attributes)) for e in events for m in remote_matches(e)]
        [summary] = [e.summary for e in events if e.WhichOneof("event") == "summary"]
        progress = [e.progress for e in events if e.WhichOneof("event") == "progress"]
        return matches, (summary.comparisons, summary.matches, summary.agreement), progress

    def status(self, encoding: np.ndarray):
        answer = self.stub.QueryStatus(
            matcher_pb2.StatusQuery(
                dataset=PROVIDER,
                encoding=encoding.tobytes(),
                encoding_info=INFO,
                purpose=common_pb2.POLICY_DELIVERY_CHECK,
                threshold=0.8,
            ),
            metadata=[(DEV_DEPARTMENT_HEADER, "hrss")],
        )
        return answer.found, answer.score, dict(answer.attributes)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.metrics_port}/metrics") as response:
            return response.read().decode()

    def audit(self) -> list:
        store = SQLiteAuditStore(self.root / "audit.sqlite", read_only=True)
        try:
            return [row.entry for row in store.scan()]
        finally:
            store.close()

    def close(self) -> None:
        self.channel.close()
        self.server.stop(0)


@pytest.fixture(scope="module")
def matchers(cluster, data, tmp_path_factory):
    local_cluster, client = cluster
    client.wait_for_workers(WORKERS, timeout=60)
    local = Matcher(tmp_path_factory.mktemp("local-matcher"), data)
    dask = Matcher(
        tmp_path_factory.mktemp("dask-matcher"),
        data,
        join_backend="dask",
        dask_scheduler=local_cluster.scheduler_address,
        dask_insecure_dev=True,  # the test cluster is plaintext on loopback
    )
    yield local, dask
    dask.close()
    local.close()


@pytest.fixture()
def client(cluster):
    _, client = cluster
    client.wait_for_workers(WORKERS, timeout=60)
    return client


def test_the_configured_backends_are_what_the_servers_run(matchers):
    local, dask = matchers
    assert isinstance(local.server.join, LocalJoinBackend)
    assert isinstance(dask.server.join, DaskJoinBackend)


@pytest.mark.parametrize("all_pairs", [True, False], ids=["all-pairs", "greedy"])
def test_compare_on_dask_answers_exactly_as_on_the_local_backend(matchers, data, all_pairs):
    local, dask = matchers
    expected, expected_summary, _ = local.compare(all_pairs)
    got, summary, progress = dask.compare(all_pairs)
    assert got == expected  # same refs, same scores bit for bit, same attributes
    assert summary == expected_summary
    hrss, mca = data
    admitted = sum(1 for i in range(len(mca)) if CATEGORIES[i % 3] != "linshi")
    assert summary[0] == len(hrss) * admitted  # the exhaustive join over admitted rows only
    assert len(expected) > 100 and {m[2]["category"] for m in expected} == {"dibao", "tekun"}
    assert progress and progress[-1].done == progress[-1].total == len(hrss)
    assert dask.server.join.loaded_version(JOIN_KEY) == 1  # shards stay on the workers


def test_query_status_on_dask_answers_exactly_as_on_the_local_backend(matchers, data):
    local, dask = matchers
    hrss, _ = data
    answers = [(local.status(row), dask.status(row)) for row in hrss[:40]]
    assert all(mine == theirs for mine, theirs in answers)
    assert sum(found for (found, _, _), _ in answers) >= 5 and any(not a[0][0] for a in answers)


def test_partition_timings_are_on_the_matchers_metrics_endpoint(matchers):
    _, dask = matchers
    dask.compare(True)
    text = dask.metrics()
    line = next(
        l
        for l in text.splitlines()
        if l.startswith("aidlink_join_partition_seconds_count")
        and 'backend="dask"' in l
        and f'dataset="{JOIN_KEY}"' in l
    )
    assert float(line.rsplit(" ", 1)[1]) >= 2  # several partitions of several calls


def test_a_worker_killed_mid_join_is_recovered_and_the_answer_is_whole(matchers, client, tmp_path):
    local, dask = matchers
    expected = local.compare(True)[:2]
    client.register_plugin(KillWorkerOnJoin(str(tmp_path), kills=1))
    try:
        got = dask.compare(True)[:2]
    finally:
        client.unregister_worker_plugin(KillWorkerOnJoin.name)
    assert (tmp_path / "kill-0").exists()  # a worker really died during the join
    assert got == expected
    retries = [
        l
        for l in dask.metrics().splitlines()
        if l.startswith("aidlink_join_partition_retries_total") and f'dataset="{JOIN_KEY}"' in l
    ]
    assert retries and float(retries[0].rsplit(" ", 1)[1]) >= 1


def test_a_join_that_keeps_losing_workers_is_refused_unavailable_and_audited(matchers, client, tmp_path):
    _, dask = matchers
    client.register_plugin(KillWorkerOnJoin(str(tmp_path), kills=50))
    try:
        with pytest.raises(grpc.RpcError) as failure:
            dask.compare(True)
    finally:
        client.unregister_worker_plugin(KillWorkerOnJoin.name)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    message = failure.value.details()
    assert f"{PROVIDER} v1" in message and "partition" in message and "nothing of it was returned" in message
    entry = [e for e in dask.audit() if e.method.endswith("/CompareDatasets")][-1]
    assert (entry.outcome, entry.status, entry.department) == ("error", "UNAVAILABLE", "hrss")
    assert f"{PROVIDER} v1" in entry.detail and "partition" in entry.detail
    assert entry.purpose == "policy-delivery-check"
    # Once workers are back the same matcher answers again, whole.
    client.wait_for_workers(WORKERS, timeout=60)
    assert dask.compare(False)[:2] == matchers[0].compare(False)[:2]


def test_an_unreachable_scheduler_stops_start_up_with_a_clear_error(tmp_path):
    with pytest.raises(ConnectionError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        MatcherServer(
            MatcherConfig(
                data_dir=tmp_path,
                listen="127.0.0.1:0",
                insecure_dev=True,
                audit=False,
                join_backend="dask",
                dask_scheduler="tcp://127.0.0.1:9",
                dask_insecure_dev=True,
                dask_connect_timeout=0.5,
            )
        )
    with pytest.raises(ValueError, match="missing dask_tls_key"):
        MatcherServer(
            MatcherConfig(
                data_dir=tmp_path,
                listen="127.0.0.1:0",
                insecure_dev=True,
                audit=False,
                join_backend="dask",
                dask_scheduler="tls://127.0.0.1:9",
                dask_tls_ca=tmp_path / "ca.crt",
                dask_tls_cert=tmp_path / "c.crt",
            )
        )
    with pytest.raises(ValueError, match='"dask" needs dask_scheduler'):
        MatcherServer(
            MatcherConfig(data_dir=tmp_path, listen="127.0.0.1:0", insecure_dev=True, audit=False, join_backend="dask")
        )


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "127.0.0.1:9", "ucx://127.0.0.1:9"])
def test_a_plaintext_scheduler_is_refused_without_the_development_flag(tmp_path, address):
    with pytest.raises(ValueError) as err:
        MatcherServer(
            MatcherConfig(
                data_dir=tmp_path,
                listen="127.0.0.1:0",
                insecure_dev=True,
                audit=False,
                join_backend="dask",
                dask_scheduler=address,
                dask_connect_timeout=0.5,
            )
        )
    message = str(err.value)
    assert f"Dask scheduler address {address} is plaintext" in message
    assert all(
        flag in message for flag in ("--dask-tls-ca", "--dask-tls-cert", "--dask-tls-key", "--dask-insecure-dev")
    )


def test_serve_refuses_a_plaintext_scheduler_and_says_how_to_configure_tls(tmp_path, monkeypatch, capsys):
    from aidlink.cli.main import main

    monkeypatch.setenv("AIDLINK_JOIN_BACKEND", "dask")
    monkeypatch.setenv("AIDLINK_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    code = main(["matcher", "serve", "--insecure-dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "tcp://127.0.0.1:9 is plaintext" in err and "--dask-tls-ca" in err and "cannot reach" not in err


def test_a_tls_scheduler_without_tls_files_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"tls:// but no Dask TLS files are given; set --dask-tls-ca"):
        MatcherServer(
            MatcherConfig(
                data_dir=tmp_path,
                listen="127.0.0.1:0",
                insecure_dev=True,
                audit=False,
                join_backend="dask",
                dask_scheduler="tls://127.0.0.1:9",
            )
        )


def test_serve_takes_the_join_backend_from_the_environment(tmp_path, monkeypatch, capsys):
    from aidlink.cli.main import main

    monkeypatch.setenv("AIDLINK_JOIN_BACKEND", "dask")
    monkeypatch.setenv("AIDLINK_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    monkeypatch.setenv("AIDLINK_DASK_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("AIDLINK_DASK_INSECURE_DEV", "true")
    code = main(["matcher", "serve", "--insecure-dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_bench_scale_runs_the_exhaustive_join_on_both_backends(cluster, capsys):
    import argparse

    from aidlink.bench import scale

    local_cluster, client = cluster
    client.wait_for_workers(WORKERS, timeout=60)
    parser = argparse.ArgumentParser()
    scale.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "scale",
            "--sizes",
            "300",
            "--workers",
            "1",
            "--backend",
            "dask",
            "--dask-scheduler",
            local_cluster.scheduler_address,
            "--schema",
            "v3",
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "local backend (in process)" in out
    assert re.search(r"dask backend \(2 workers at tcp://\S+\).*worker peak RSS MiB \d+/\d+", out)
    assert "same matches as local: yes" in out
    pairs = int(re.search(r"comparisons, ([\d,]+) pairs\)", out).group(1).replace(",", ""))
    assert pairs > 200
