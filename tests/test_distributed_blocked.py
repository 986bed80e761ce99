"""The blocked join (keyed tokens + LSH bands) on a real multi-process LocalCluster, by key
partition: exactly the in-process blocked join's pairs, scores and order; each pair from one
partition; workers hold only encodings and keys; answers as partitions finish; a lost worker
recovered once, else JoinFailed; and the matcher with join_backend = "dask" uses it."""

from __future__ import annotations

import json
import os

import grpc
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from aidlink.bench.dask import bench_dask, make_blocked_datasets  # noqa: E402
from aidlink.matcher.comparison import DEFAULT_LSH  # noqa: E402
from aidlink.matcher.distributed import DaskJoinBackend, JoinFailed  # noqa: E402
from aidlink.matcher.distributed.key_partitions import (  # noqa: E402
    key_partitions,
    owning_partitions,
    partition_keys,
    rows_by_partition,
)
from aidlink.matcher.distributed.tasks import BLOCKED_TASK_PREFIX  # noqa: E402
from aidlink.matcher.server import MatcherConfig, MatcherServer  # noqa: E402
from aidlink.matcher.similarity import CandidatePairs, pack  # noqa: E402
from aidlink.matcher.similarity.blocking import NO_KEY, BlockingKeys, blocked_candidate_pairs  # noqa: E402
from aidlink.v1 import matcher_pb2_grpc  # noqa: E402
from tests.support.dev_matcher_calls import compare_datasets, upload_dataset  # noqa: E402
from tests.test_distributed_join import KillWorkerOnJoin, worker_killing_cluster  # noqa: E402

WORKERS = 2
RESTART_SECONDS = 180  # a worker a test ended can take long to come back on a loaded machine


class RecordWorkerData(distributed.WorkerPlugin):
    """Writes, when a blocked-join task starts, what the worker holds (type, dtype, shape)."""

    name = "record-worker-data"

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def setup(self, worker) -> None:
        self.worker = worker

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(BLOCKED_TASK_PREFIX):
            return
        held = [
            [type(v).__name__, str(getattr(v, "dtype", "")), list(getattr(v, "shape", ()))]
            for v in self.worker.data.values()
        ]
        with open(os.path.join(self.out_dir, f"{key}.json"), "w") as f:
            json.dump(held, f)


def unregister(client, name: str) -> None:
    """Remove a worker plugin once the workers are back (a worker that a plugin just ended is
    restarting, and a broadcast to it fails)."""
    for _ in range(5):
        try:  # a worker that a plugin ended may take long to restart on a loaded machine
            client.wait_for_workers(WORKERS, timeout=RESTART_SECONDS)
        except (TimeoutError, distributed.exceptions.WorkerStartTimeoutError):
            continue
        try:
            client.unregister_worker_plugin(name)
            return
        except ValueError:  # an earlier try removed it at the scheduler before its broadcast failed
            return
        except (OSError, distributed.comm.core.CommClosedError):
            continue
    raise AssertionError(f"could not remove worker plugin {name}")


def linked(n: int, seed: int):
    """A and B (half of B noisy copies of A rows) with tokens, and the full key sets (+ LSH)."""
    a, b, a_tokens, b_tokens = make_blocked_datasets(n, seed)
    a_keys = a_tokens.with_keys(DEFAULT_LSH.band_keys(pack(a)))
    b_keys = b_tokens.with_keys(DEFAULT_LSH.band_keys(pack(b)))
    return a, b, a_tokens, b_tokens, a_keys, b_keys


@pytest.fixture(scope="module")
def cluster():
    with worker_killing_cluster() as (cluster, client):
        yield cluster, client


@pytest.fixture()
def client(cluster):
    _, client = cluster
    client.wait_for_workers(WORKERS, timeout=RESTART_SECONDS)
    return client


@pytest.fixture(scope="module")
def data():
    return linked(3000, seed=31)


def assert_same(got: CandidatePairs, expected: CandidatePairs) -> None:
    assert len(expected) > 0
    assert np.array_equal(got.a_index, expected.a_index)
    assert np.array_equal(got.b_index, expected.b_index)
    assert got.scores.tobytes() == expected.scores.tobytes()  # bit for bit, same order


# -- key partitions (no cluster) --------------------------------------------------------------


def test_rows_go_to_the_partitions_of_their_keys_with_only_those_keys():
    keys = np.array([[3, 4, NO_KEY], [5, NO_KEY, NO_KEY], [NO_KEY, NO_KEY, NO_KEY], [6, 9, 12]], dtype=np.uint64)
    assert key_partitions(keys, 3).tolist() == [[0, 1, -1], [2, -1, -1], [-1, -1, -1], [0, 0, 0]]
    assert [r.tolist() for r in rows_by_partition(keys, 3)] == [[0, 3], [0], [1]]
    counts, values = partition_keys(keys[[0, 3]], 0, 3)
    assert (counts.dtype, counts.tolist(), values.dtype, values.tolist()) == ("uint16", [1, 3], "uint64", [3, 6, 9, 12])
    counts, values = partition_keys(keys[[1, 2]], 2, 3)
    assert (counts.tolist(), values.tolist()) == ([1, 0], [5])


def test_a_pair_is_owned_by_the_partition_of_its_smallest_shared_key():
    a = np.array([[4, 7, 9], [4, 7, 9], [1, 2, NO_KEY]], dtype=np.uint64)
    b = np.array([[7, 9, NO_KEY], [3, 4, 9], [5, 6, NO_KEY]], dtype=np.uint64)
    assert owning_partitions(a, b, 5).tolist() == [2, 4, -1]  # 7 % 5; 4 % 5; nothing shared


# -- the join on the cluster -------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.8, 0.6])
@pytest.mark.parametrize("partitions", [1, 2, 7])
def test_dask_blocked_join_gives_exactly_the_in_process_blocked_pairs(client, data, threshold, partitions):
    a, b, *_, a_keys, b_keys = data
    expected = blocked_candidate_pairs(a, a_keys, b, b_keys, threshold)
    with DaskJoinBackend(client) as backend:
        join = backend.blocked_join("mca/low-income@v1", a, a_keys, b, b_keys, threshold, partitions=partitions)
        assert_same(join.candidate_pairs(), expected)
    assert join.stats.partitions == partitions
    assert join.stats.bytes_sent > 0
    assert join.stats.retries == 0, join.stats.retry_causes


def test_partitions_sent_a_few_at_a_time_give_the_same_answer(client, data):
    a, b, *_, a_keys, b_keys = data
    with DaskJoinBackend(client) as backend:
        join = backend.blocked_join("d", a, a_keys, b, b_keys, 0.8, partitions=9, in_flight=1)
        assert_same(join.candidate_pairs(), blocked_candidate_pairs(a, a_keys, b, b_keys, 0.8))
    assert join.stats.partitions == 9 and join.stats.records_sent > len(a) + len(b)


def test_sides_sharing_no_key_give_no_pairs_and_send_nothing(client, data):
    a, b, a_tokens, b_tokens, *_ = data
    other = BlockingKeys(b_tokens.keys ^ np.uint64(1))  # every key changed: nothing shared
    with DaskJoinBackend(client) as backend:
        join = backend.blocked_join("d", a, a_tokens, b, other, 0.8, partitions=3)
        assert len(join.candidate_pairs()) == 0
        rows_without_keys = BlockingKeys(np.full((len(b), 1), NO_KEY, dtype=np.uint64))
        empty = backend.blocked_join("d", a, a_tokens, b, rows_without_keys, 0.8, partitions=3)
        assert len(empty.candidate_pairs()) == 0 and empty.stats.partitions == 0
    assert join.stats.candidates == 0


def test_each_pair_comes_from_exactly_one_partition_though_many_share_several(client, data):
    a, b, *_, a_keys, b_keys = data
    expected = blocked_candidate_pairs(a, a_keys, b, b_keys, 0.8)
    partitions = 5
    with DaskJoinBackend(client) as backend:
        parts = list(backend.blocked_join("d", a, a_keys, b, b_keys, 0.8, partitions=partitions))
    assert sorted(p.number for p in parts) == list(range(partitions))  # one answer per partition
    seen = [(int(i), int(j)) for p in parts for i, j in zip(p.pairs.a_index, p.pairs.b_index)]
    assert len(seen) == len(set(seen)) == len(expected)
    for p in parts:  # each partition's answer is already in canonical order
        assert_same(p.pairs, CandidatePairs.concatenate([p.pairs])) if len(p.pairs) else None
    # The dedup mattered: most matching pairs share keys in several partitions.
    x, y = a_keys.keys[expected.a_index], b_keys.keys[expected.b_index]
    shared = [
        {int(k) % partitions for k in set(x[i].tolist()) & set(y[i].tolist()) if k != int(NO_KEY)}
        for i in range(len(expected))
    ]
    assert sum(len(s) > 1 for s in shared) > len(expected) // 2


def test_workers_hold_nothing_but_encodings_and_keys(client, data, tmp_path):
    a, b, *_, a_keys, b_keys = data
    client.register_plugin(RecordWorkerData(str(tmp_path)))
    try:
        with DaskJoinBackend(client) as backend:
            backend.blocked_join("nhsa/insured@v3", a, a_keys, b, b_keys, 0.8, partitions=4).candidate_pairs()
    finally:
        unregister(client, RecordWorkerData.name)
    records = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert len(records) == 4  # every partition's task saw its inputs
    held = {(kind, dtype, tuple(shape[1:])) for items in records for kind, dtype, shape in items}
    inputs = {h for h in held if h[0] != "KeyPartitionAnswer"}  # answers of finished partitions
    # Encoding rows, and keys with their counts per row: nothing else reaches a worker.
    assert inputs == {("ndarray", "uint8", (128,)), ("ndarray", "uint16", ()), ("ndarray", "uint64", ())}


def test_a_worker_killed_mid_join_is_recovered_from_the_source(client, data, tmp_path, caplog):
    from prometheus_client import CollectorRegistry

    a, b, *_, a_keys, b_keys = data
    expected = blocked_candidate_pairs(a, a_keys, b, b_keys, 0.8)
    registry = CollectorRegistry()
    with DaskJoinBackend(client, registry=registry) as backend:
        client.register_plugin(KillWorkerOnJoin(str(tmp_path), kills=1))
        try:
            join = backend.blocked_join("mca/low-income@v1", a, a_keys, b, b_keys, 0.8, partitions=4)
            got = join.candidate_pairs()
        finally:
            unregister(client, KillWorkerOnJoin.name)
    assert (tmp_path / "kill-0").read_text().startswith(BLOCKED_TASK_PREFIX)  # a worker died mid-join
    assert_same(got, expected)
    assert join.stats.retries >= 1
    # each retry says which partition and why, in the stats and in the matcher's log
    assert len(join.stats.retry_causes) == join.stats.retries
    assert all(c.startswith("partition ") and " of 4: " in c for c in join.stats.retry_causes)
    logged = [r.getMessage() for r in caplog.records if r.name == "aidlink.matcher.distributed.blocked"]
    assert [m for m in logged if "trying once more" in m] == [
        f"blocked join of mca/low-income@v1: {cause}" for cause in join.stats.retry_causes
    ]
    assert (
        registry.get_sample_value(
            "aidlink_join_partition_retries_total", {"backend": "dask", "dataset": "mca/low-income@v1"}
        )
        >= 1
    )


def test_a_blocked_join_that_loses_a_worker_again_on_retry_fails_clearly(client, data, tmp_path):
    a, b, *_, a_keys, b_keys = data
    with DaskJoinBackend(client) as backend:
        client.register_plugin(KillWorkerOnJoin(str(tmp_path), kills=50))  # every join task
        try:
            with pytest.raises(
                JoinFailed,
                match=r"dataset 'mca/low-income@v1' failed: partition \d of 4 gave no answer \(after one retry",
            ) as failure:
                backend.blocked_join("mca/low-income@v1", a, a_keys, b, b_keys, 0.8, partitions=4).candidate_pairs()
        finally:
            unregister(client, KillWorkerOnJoin.name)
        assert failure.value.dataset == "mca/low-income@v1" and 0 <= failure.value.partition < 4
        client.wait_for_workers(WORKERS, timeout=RESTART_SECONDS)
        assert_same(
            backend.blocked_join("mca/low-income@v1", a, a_keys, b, b_keys, 0.8, partitions=4).candidate_pairs(),
            blocked_candidate_pairs(a, a_keys, b, b_keys, 0.8),
        )


def test_bad_inputs_are_refused_with_the_dataset_named(client, data):
    a, b, *_, a_keys, b_keys = data
    with DaskJoinBackend(client) as backend:
        with pytest.raises(ValueError, match="blocking needs a threshold above 0"):
            backend.blocked_join("x", a, a_keys, b, b_keys, 0.0)
        with pytest.raises(ValueError, match=r"dataset 'x', B side: encodings are 12 bytes"):
            backend.blocked_join("x", a, a_keys, np.zeros((3, 12), np.uint8), b_keys, 0.8)
        with pytest.raises(
            ValueError, match="blocking keys for 3000 and 3000 records, but the datasets have 3000 and 10"
        ):
            backend.blocked_join("x", a, a_keys, b[:10], b_keys, 0.8)


# -- in the matcher ----------------------------------------------------------------------------


def _upload(stub, department: str, name: str, entry: str, encodings, keys: BlockingKeys, attributes: dict) -> None:
    rows = [[int(k).to_bytes(8, "little") for k in key_row if k != NO_KEY] for key_row in keys.keys]
    upload_dataset(
        stub,
        department,
        name,
        entry,
        encodings,
        schema_fingerprint="test-schema",
        blocking_keys=rows,
        attributes=attributes,
    )


def _compare(stub, all_pairs: bool):
    return compare_datasets(stub, "hrss", "employment", "mca/low-income", 0.8, all_pairs)


@pytest.fixture(scope="module")
def matchers(cluster, tmp_path_factory):
    local_cluster, client = cluster
    client.wait_for_workers(WORKERS, timeout=RESTART_SECONDS)
    a, b, a_tokens, b_tokens, *_ = linked(1500, seed=37)
    servers, channels, stubs = [], [], []
    try:
        for name, settings in (
            ("local", {}),
            ("dask", {"join_backend": "dask", "dask_scheduler": local_cluster.scheduler_address}),
        ):
            server = MatcherServer(
                MatcherConfig(
                    data_dir=tmp_path_factory.mktemp(f"{name}-matcher"),
                    listen="127.0.0.1:0",
                    insecure_dev=True,
                    dask_insecure_dev=bool(settings),  # the test cluster is plaintext on loopback
                    metrics_port=0,
                    checkpoint_interval=0.2,
                    **settings,
                )
            ).start()
            servers.append(server)
            channels.append(grpc.insecure_channel(server.address))
            stub = matcher_pb2_grpc.MatcherStub(channels[-1])
            _upload(stub, "hrss", "employment", "hrss.employment", a, a_tokens, {})
            _upload(stub, "mca", "low-income", "mca.low-income", b, b_tokens, {"category": "dibao"})
            stubs.append(stub)
        yield servers, stubs
    finally:
        for channel in channels:
            channel.close()
        for server in servers:
            server.stop(0)


@pytest.mark.parametrize("all_pairs", [True, False], ids=["all-pairs", "greedy"])
def test_the_matcher_on_dask_runs_the_blocked_join_there_with_the_local_answer(matchers, all_pairs):
    import urllib.request

    (_, dask_server), (local, dask) = matchers
    expected, expected_summary, _ = _compare(local, all_pairs)
    got, summary, progress = _compare(dask, all_pairs)
    assert got == expected and len(expected) > 100  # same refs and scores, same order
    assert summary.matches == expected_summary.matches
    # Candidate pairs, not N x N: the join was blocked on both.
    assert 0 < expected_summary.comparisons <= summary.comparisons < 1500 * 1500 // 10
    assert progress and progress[-1].done == progress[-1].total == 1500
    with urllib.request.urlopen(f"http://127.0.0.1:{dask_server.metrics_port}/metrics") as response:
        text = response.read().decode()
    counts = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("aidlink_join_partition_seconds_count") and 'backend="dask"' in line
    ]
    assert counts and sum(counts) >= WORKERS  # key partitions ran on the workers


def test_bench_dask_blocked_runs_both_joins_on_the_same_data(cluster):
    import io

    local_cluster, client = cluster
    client.wait_for_workers(WORKERS, timeout=RESTART_SECONDS)
    out = io.StringIO()
    [row] = bench_dask([800], WORKERS, scheduler=local_cluster.scheduler_address, blocked=True, out=out)
    assert row["identical"] and row["pairs"] > 0 and row["completeness"] > 0.9
    assert row["bytes_sent"] > 2 * 800 * 128 and row["replication"] >= 1
    assert len(row["worker_peak_rss"]) == WORKERS and min(row["worker_peak_rss"]) > 0
    assert "sent MiB" in out.getvalue()


def test_bench_partition_costs_cuts_and_joins_partitions_without_a_cluster():
    import io

    from aidlink.bench.dask import partition_costs

    out = io.StringIO()
    costs = partition_costs(3000, 8, out=out)
    assert 1 < costs["copies"] <= 8 and len(costs["partitions"]) == 3
    assert all(p["bytes"] > 0 and p["candidates"] > 0 for p in costs["partitions"])
    assert "encoding copies per record" in out.getvalue()
