"""The Dask join backend on a real LocalCluster (worker processes): same pairs as the
local kernel, only encodings on the workers, per-partition metrics, worker loss."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402  (installed with distributed)

from aidlink.bench.kernel import make_datasets  # noqa: E402
from aidlink.matcher.distributed import (  # noqa: E402
    DaskJoinBackend,
    DatasetNotLoaded,
    JoinFailed,
    LocalJoinBackend,
    open_join_backend,
)
from aidlink.matcher.distributed.tasks import TASK_PREFIX  # noqa: E402
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack  # noqa: E402

WORKERS = 2


class KillWorkerOnJoin(distributed.WorkerPlugin):
    """Ends the worker process abruptly when it starts a join task, at most ``kills`` times
    across the cluster (one marker file per kill, so restarted workers keep count)."""

    name = "kill-worker-on-join"

    def __init__(self, marker_dir: str, kills: int) -> None:
        self.marker_dir, self.kills = marker_dir, kills

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(TASK_PREFIX):
            return
        for i in range(self.kills):
            try:
                fd = os.open(os.path.join(self.marker_dir, f"kill-{i}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.write(fd, str(key).encode())
            os.close(fd)
            os._exit(1)


# A LocalCluster closes the nanny of a worker that has not come back within this long after it
# was lost (distributed.deploy.lost-worker-timeout, 15 s by default), and never starts it again.
# These tests kill workers on purpose; on a loaded machine a restart can take longer than 15 s,
# and with both nannies closed the next wait for workers waits for ever (seen in the suite loop).
LOST_WORKER_TIMEOUT = "10 minutes"


@contextlib.contextmanager
def worker_killing_cluster(dashboard_address: str | None = None) -> Iterator[tuple[object, object]]:
    """A LocalCluster of WORKERS one-thread worker processes, and a client, whose nannies
    restart the workers these tests kill however long the restart takes."""
    with (
        dask.config.set({"distributed.deploy.lost-worker-timeout": LOST_WORKER_TIMEOUT}),
        distributed.LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            dashboard_address=dashboard_address,
            host="127.0.0.1",
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield cluster, client


@pytest.fixture(scope="module")
def cluster():
    with worker_killing_cluster() as (cluster, client):
        yield cluster, client


@pytest.fixture()
def client(cluster):
    _, client = cluster
    client.wait_for_workers(WORKERS, timeout=60)
    return client


@pytest.fixture(scope="module")
def data():
    a, b = make_datasets(3000, 1024, 0.5, seed=11)
    return a[:2000], b  # query 2000 rows, dataset 3000 rows, ~1000 planted pairs


def assert_same(got: CandidatePairs, expected: CandidatePairs) -> None:
    assert len(expected) > 0
    assert np.array_equal(got.a_index, expected.a_index)
    assert np.array_equal(got.b_index, expected.b_index)
    assert got.scores.tobytes() == expected.scores.tobytes()  # bit for bit, same order


def worker_data(client) -> dict[str, list[tuple[str, str, tuple]]]:
    return client.run(
        lambda dask_worker: [
            (str(key), type(value).__name__, str(getattr(value, "dtype", "")), getattr(value, "shape", ()))
            for key, value in dask_worker.data.items()
        ]
    )


def settle(client, keep) -> dict:
    """Worker data once released join tasks and stale shards are gone (release is asynchronous)."""
    for _ in range(100):
        held = worker_data(client)
        if all(keep(item) for items in held.values() for item in items):
            return held
        time.sleep(0.05)
    return held


@pytest.mark.parametrize("threshold", [0.8, 0.55])
def test_dask_join_gives_exactly_the_local_kernels_pairs(client, data, threshold):
    query, dataset = data
    expected = candidate_pairs(pack(query), pack(dataset), threshold)
    with DaskJoinBackend(client, partitions=5) as backend, LocalJoinBackend() as local:
        backend.load("mca/low-income", dataset, version=1)
        local.load("mca/low-income", dataset, version=1)
        assert backend.shard_count("mca/low-income") == 5
        assert_same(backend.candidate_pairs(query, "mca/low-income", threshold), expected)
        assert_same(local.candidate_pairs(query, "mca/low-income", threshold), expected)


def test_row_filter_counts_positions_in_the_filter_like_the_local_kernel(client, data):
    query, dataset = data
    rows = np.random.default_rng(3).permutation(len(dataset))[:1700]  # unsorted on purpose
    expected = candidate_pairs(pack(query), pack(dataset[rows]), 0.8)
    with DaskJoinBackend(client, partitions=4) as backend:
        backend.load("hrss/employment", dataset)
        assert_same(backend.candidate_pairs(query, "hrss/employment", 0.8, rows=rows), expected)
        with pytest.raises(ValueError, match=r"row 3000 is outside 0\.\.2999"):
            backend.candidate_pairs(query, "hrss/employment", 0.8, rows=np.array([1, 3000]))
        with pytest.raises(ValueError, match="row 5 is given more than once"):
            backend.candidate_pairs(query, "hrss/employment", 0.8, rows=np.array([5, 2, 5]))


def test_threshold_zero_scores_all_zero_encodings_against_every_row(client):
    rng = np.random.default_rng(5)
    dataset = (rng.random((40, 64)) < 0.3).astype(np.uint8) * rng.integers(1, 255, (40, 64), dtype=np.uint8)
    query = dataset[:12].copy()
    query[3] = 0
    dataset[7] = 0
    expected = candidate_pairs(pack(query), pack(dataset), 0.0)
    assert len(expected) == 12 * 40
    with DaskJoinBackend(client, partitions=3) as backend:
        backend.load("zeros", dataset)
        assert_same(backend.candidate_pairs(query, "zeros", 0.0), expected)


def test_workers_hold_nothing_but_uint8_encoding_rows(client, data):
    query, dataset = data
    settle(client, lambda item: False)  # earlier tests' shards are freed asynchronously
    with DaskJoinBackend(client, partitions=4) as backend:
        backend.load("nhsa/insured", dataset)
        held = worker_data(client)
        shards = [item for items in held.values() for item in items]
        assert len(shards) == 4
        assert {(kind, dtype) for _, kind, dtype, _ in shards} == {("ndarray", "uint8")}
        assert sum(shape[0] for *_, shape in shards) == len(dataset)
        # The shards are the dataset's rows, each exactly once, and nothing else.
        arrays = client.run(lambda dask_worker: [v for v in dask_worker.data.values()])
        stacked = np.concatenate([a for values in arrays.values() for a in values])
        assert sorted(map(bytes, stacked)) == sorted(map(bytes, dataset))

        backend.candidate_pairs(query, "nhsa/insured", 0.8)
        held = settle(client, lambda item: not item[0].startswith(TASK_PREFIX))
        for items in held.values():
            for _, kind, dtype, shape in items:
                assert (kind, dtype, shape[1]) == ("ndarray", "uint8", 128)
    assert settle(client, lambda item: False) == {w: [] for w in held}  # evicted on close


def test_partition_timings_are_prometheus_histograms(client, data):
    from prometheus_client import CollectorRegistry

    query, dataset = data
    registry = CollectorRegistry()
    with (
        DaskJoinBackend(client, partitions=6, registry=registry) as backend,
        LocalJoinBackend(registry=registry) as local,
    ):
        backend.load("mca/low-income", dataset)
        local.load("mca/low-income", dataset)
        backend.candidate_pairs(query, "mca/low-income", 0.8)
        local.candidate_pairs(query, "mca/low-income", 0.8)
    dask_count = registry.get_sample_value(
        "aidlink_join_partition_seconds_count", {"backend": "dask", "dataset": "mca/low-income"}
    )
    local_count = registry.get_sample_value(
        "aidlink_join_partition_seconds_count", {"backend": "local", "dataset": "mca/low-income"}
    )
    assert 1 <= dask_count <= 6  # the partitions whose popcount range the query reaches
    assert local_count == 1
    assert (
        registry.get_sample_value(
            "aidlink_join_partition_seconds_sum", {"backend": "dask", "dataset": "mca/low-income"}
        )
        > 0
    )


def test_loading_a_new_version_replaces_and_frees_the_old_shards(client, data):
    query, dataset = data
    with DaskJoinBackend(client, partitions=3) as backend:
        backend.load("edu/students", dataset[:1000], version=1)
        backend.load("edu/students", dataset, version=2)
        assert backend.loaded_version("edu/students") == 2
        held = settle(client, lambda item: item[3][0] == len(dataset) // 3)  # v1's are gone
        assert sorted(shape[0] for items in held.values() for *_, shape in items) == [1000] * 3
        assert_same(
            backend.candidate_pairs(query, "edu/students", 0.8), candidate_pairs(pack(query), pack(dataset), 0.8)
        )
        backend.evict("edu/students")
        assert backend.loaded_version("edu/students") is None
        with pytest.raises(DatasetNotLoaded, match="'edu/students' is not loaded"):
            backend.candidate_pairs(query, "edu/students", 0.8)


def test_bad_inputs_are_refused_with_the_dataset_named(client, data):
    query, dataset = data
    with DaskJoinBackend(client) as backend:
        with pytest.raises(ValueError, match=r"dataset 'x': encodings are 12 bytes"):
            backend.load("x", np.zeros((3, 12), np.uint8))
        backend.load("x", dataset)
        with pytest.raises(ValueError, match=r"query encodings are 512 bits but dataset 'x' holds 1024-bit"):
            backend.candidate_pairs(query[:, :64], "x", 0.8)
        with pytest.raises(ValueError, match="expected a 2-D uint8 array"):
            backend.candidate_pairs(query.astype(np.int16), "x", 0.8)


def test_a_worker_killed_mid_join_is_recovered_from_the_source(client, data, tmp_path):
    from prometheus_client import CollectorRegistry

    query, dataset = data
    expected = candidate_pairs(pack(query), pack(dataset), 0.8)
    registry = CollectorRegistry()
    source = np.lib.format.open_memmap(tmp_path / "encodings.npy", mode="w+", dtype=np.uint8, shape=dataset.shape)
    source[:] = dataset
    with DaskJoinBackend(client, partitions=4, registry=registry) as backend:
        backend.load("mca/low-income", source)
        client.register_plugin(KillWorkerOnJoin(str(tmp_path), kills=1))
        try:
            got = backend.candidate_pairs(query, "mca/low-income", 0.8)
        finally:
            client.unregister_worker_plugin(KillWorkerOnJoin.name)
    assert (tmp_path / "kill-0").read_text().startswith(TASK_PREFIX)  # a worker died mid-join
    assert_same(got, expected)
    assert (
        registry.get_sample_value(
            "aidlink_join_partition_retries_total", {"backend": "dask", "dataset": "mca/low-income"}
        )
        >= 1
    )


def test_a_join_that_loses_a_worker_again_on_retry_fails_clearly(client, data, tmp_path):
    query, dataset = data
    with DaskJoinBackend(client, partitions=4) as backend:
        backend.load("mca/low-income", dataset)
        client.register_plugin(KillWorkerOnJoin(str(tmp_path), kills=50))  # every join task
        try:
            with pytest.raises(
                JoinFailed,
                match=r"dataset 'mca/low-income' failed: partition \d of 4 "
                r"gave no answer \(after one retry",
            ) as failure:
                backend.candidate_pairs(query, "mca/low-income", 0.8)
        finally:
            client.unregister_worker_plugin(KillWorkerOnJoin.name)
        assert failure.value.dataset == "mca/low-income" and 0 <= failure.value.partition < 4
        assert (tmp_path / "kill-1").exists()  # the first try and the retry both lost a worker
        # Once workers are back, the same backend re-scatters the lost shards and answers.
        client.wait_for_workers(WORKERS, timeout=60)
        assert_same(
            backend.candidate_pairs(query, "mca/low-income", 0.8), candidate_pairs(pack(query), pack(dataset), 0.8)
        )


def test_join_backend_setting_picks_the_backend(cluster, data):
    local_cluster, _ = cluster
    query, dataset = data
    assert isinstance(open_join_backend("local"), LocalJoinBackend)
    with pytest.raises(ValueError, match='"dask" needs dask_scheduler'):
        open_join_backend("dask")
    with pytest.raises(ValueError, match="join_backend must be one of local, dask; got 'spark'"):
        open_join_backend("spark")
    with open_join_backend("dask", local_cluster.scheduler_address, partitions=2) as backend:
        assert isinstance(backend, DaskJoinBackend)
        backend.load("d", dataset)
        assert_same(backend.candidate_pairs(query, "d", 0.8), candidate_pairs(pack(query), pack(dataset), 0.8))


def test_bench_dask_compares_both_backends_on_the_same_data(cluster):
    import io

    from aidlink.bench.dask import bench_dask

    local_cluster, client = cluster
    client.wait_for_workers(WORKERS, timeout=60)
    out = io.StringIO()
    rows = bench_dask([600], WORKERS, scheduler=local_cluster.scheduler_address, out=out)
    assert len(rows) == 1 and rows[0]["identical"] and rows[0]["pairs"] > 0
    assert len(rows[0]["worker_peak_rss"]) == WORKERS and min(rows[0]["worker_peak_rss"]) > 0
    assert "worker peak MiB" in out.getvalue()
