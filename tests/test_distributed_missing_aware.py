"""The missing-aware blocked join (linkage schema v2, the default) on a real multi-process
LocalCluster, by key partition: exactly the in-process missing-aware join's pairs, scores and
order (records lacking ID, phone or address segments scored on the segments both have); edge
cases (a segment missing everywhere, an empty side, partitions without B rows); only encodings
and tokens reach a worker; and the matcher with join_backend = "dask" on the default schema
runs its comparisons there with the local answer."""

from __future__ import annotations

import json
from datetime import date

import grpc
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from aidlink.bench.dask import make_blocked_datasets  # noqa: E402
from aidlink.matcher.comparison import DEFAULT_LSH  # noqa: E402
from aidlink.matcher.datasets import DatasetVersion, EncodingSpec, LoadedDataset  # noqa: E402
from aidlink.matcher.distributed import DaskJoinBackend  # noqa: E402
from aidlink.matcher.join import DatasetJoin  # noqa: E402
from aidlink.matcher.missing_aware import ANY_VERSION, missing_aware_match, version_keys  # noqa: E402
from aidlink.matcher.schema_policies import DEFAULT_SCHEMA_FINGERPRINT, V2_OPTIONAL_SEGMENTS  # noqa: E402
from aidlink.matcher.server import MatcherConfig, MatcherServer  # noqa: E402
from aidlink.matcher.similarity import CandidatePairs, pack  # noqa: E402
from aidlink.matcher.similarity.blocking import NO_KEY, BlockingKeys, blocked_candidate_pairs  # noqa: E402
from aidlink.v1 import matcher_pb2_grpc  # noqa: E402
from tests.support.dev_matcher_calls import compare_datasets, upload_dataset  # noqa: E402
from tests.test_distributed_blocked import RecordWorkerData, unregister  # noqa: E402
from tests.test_distributed_join import worker_killing_cluster  # noqa: E402

WORKERS = 2
RESTART_SECONDS = 180
SEGMENTS = V2_OPTIONAL_SEGMENTS  # id (512, 256), phone (768, 128), address (896, 128)


def drop_segments(x: np.ndarray, rng: np.random.Generator, shares: tuple[float, float, float]) -> np.ndarray:
    """``x`` with each optional segment zeroed (the record lacks that field) in a share of rows."""
    out = x.copy()
    for (start, bits), share in zip(SEGMENTS.ranges, shares):
        out[rng.random(len(out)) < share, start // 8 : (start + bits) // 8] = 0
    return out


def v2_like(n: int, seed: int):
    """A and B (half of B noisy copies of A rows) with tokens; ID, phone and address missing from
    different shares of each side, independently, so every presence group occurs on both."""
    a, b, a_tokens, b_tokens = make_blocked_datasets(n, seed)
    rng = np.random.default_rng(seed)
    return drop_segments(a, rng, (0.3, 0.5, 0.2)), drop_segments(b, rng, (0.4, 0.2, 0.6)), a_tokens, b_tokens


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
    return v2_like(3000, seed=41)


def in_process(a, b, a_tokens, b_tokens, threshold: float, all_pairs: bool = True) -> CandidatePairs:
    return missing_aware_match(
        a, b, threshold, SEGMENTS, all_pairs=all_pairs, mine_blocking=a_tokens, other_blocking=b_tokens, lsh=DEFAULT_LSH
    ).pairs


def assert_same(got: CandidatePairs, expected: CandidatePairs) -> None:
    assert np.array_equal(got.a_index, expected.a_index)
    assert np.array_equal(got.b_index, expected.b_index)
    assert got.scores.tobytes() == expected.scores.tobytes()  # bit for bit, same order


def v2_dataset(encodings: np.ndarray, tokens: BlockingKeys | None) -> LoadedDataset:
    spec = EncodingSpec(1024, 1, DEFAULT_SCHEMA_FINGERPRINT)
    meta = DatasetVersion(1, "nhsa", "insured", 1, "nhsa.insured", "2023.1", spec, (), len(encodings))
    return LoadedDataset(meta, encodings, [f"r{i}" for i in range(len(encodings))], [{}] * len(encodings), tokens)


# -- the join on the cluster -------------------------------------------------------------------


def test_the_data_exercises_every_presence_group_and_the_masking(data):
    a, b, a_tokens, b_tokens = data
    assert set(SEGMENTS.presence(a).tolist()) == set(SEGMENTS.presence(b).tolist()) == set(range(8))
    expected = in_process(a, b, a_tokens, b_tokens, 0.72)
    codes_a, codes_b = SEGMENTS.presence(a)[expected.a_index], SEGMENTS.presence(b)[expected.b_index]
    assert (codes_a != codes_b).sum() > 100  # pairs scored on fewer segments than one side has
    # Scored on whole vectors instead, those pairs would differ: the masking matters here.
    whole = blocked_candidate_pairs(
        a,
        a_tokens.with_keys(DEFAULT_LSH.band_keys(pack(a))),
        b,
        b_tokens.with_keys(DEFAULT_LSH.band_keys(pack(b))),
        0.72,
    )
    assert len(whole) < len(expected)


@pytest.mark.parametrize(("threshold", "partitions"), [(0.72, 1), (0.72, 2), (0.6, 7)])
def test_missing_aware_blocked_join_on_dask_is_exactly_the_in_process_one(client, data, threshold, partitions):
    a, b, a_tokens, b_tokens = data
    expected = in_process(a, b, a_tokens, b_tokens, threshold)
    assert len(expected) > 1000
    with DaskJoinBackend(client) as backend:
        join = backend.blocked_join(
            "nhsa/insured@v1",
            a,
            a_tokens,
            b,
            b_tokens,
            threshold,
            partitions=partitions,
            segments=SEGMENTS,
            lsh=DEFAULT_LSH,
        )
        parts = list(join)
    assert sorted(p.number for p in parts) == list(range(partitions))
    seen = [(int(i), int(j)) for p in parts for i, j in zip(p.pairs.a_index, p.pairs.b_index)]
    assert len(seen) == len(set(seen))  # each pair from exactly one partition
    assert_same(CandidatePairs.concatenate(p.pairs for p in parts), expected)
    assert join.stats.partitions == partitions
    assert join.stats.retries == 0, join.stats.retry_causes


def test_tokens_only_missing_aware_join_on_dask(client, data):
    a, b, a_tokens, b_tokens = data
    expected = missing_aware_match(
        a, b, 0.72, SEGMENTS, all_pairs=True, mine_blocking=a_tokens, other_blocking=b_tokens, lsh=None
    ).pairs
    with DaskJoinBackend(client) as backend:
        got = backend.blocked_join(
            "d", a, a_tokens, b, b_tokens, 0.72, partitions=3, segments=SEGMENTS
        ).candidate_pairs()
    assert len(expected) > 500
    assert_same(got, expected)


def test_version_keys_hold_each_masked_version_of_a_record_tagged():
    a = np.zeros((3, 128), dtype=np.uint8)
    a[:, :64] = 0xF0  # core
    a[0, 64:96] = 0x0F  # an ID
    a[1, 96:112] = 0x3C  # a phone
    b = a[[0, 2]].copy()  # B groups: ID only (0b001) and nothing optional (0b000)
    tokens = np.array([[11, 12], [13, NO_KEY], [14, 15]], dtype=np.uint64)
    a_keys, b_keys = version_keys(a, tokens, b, tokens[[0, 2]], SEGMENTS, DEFAULT_LSH)
    bands = DEFAULT_LSH.bands
    versions = [sorted(set(row[row != ANY_VERSION].tolist())) for row in a_keys.kept]
    # A0 (ID) meets B's ID group whole and B's empty group without its ID: two versions.
    # A1 (phone) loses the phone against both B groups: one version (nothing kept). A2: one.
    assert versions == [[0, 1], [0], [0]]
    assert [sorted(set(row[row != ANY_VERSION].tolist())) for row in b_keys.kept] == [[0, 1], [0]]
    without_id = a[:1].copy()
    without_id[0, 64:96] = 0
    whole, masked = DEFAULT_LSH.band_keys(pack(a[:1]))[0], DEFAULT_LSH.band_keys(pack(without_id))[0]
    assert set(a_keys.of(np.array([0]), 1)[0].tolist()) == {11, 12, int(NO_KEY)} | set(whole.tolist())
    assert set(a_keys.of(np.array([0]), 0)[0].tolist()) == {11, 12, int(NO_KEY)} | set(masked.tolist())
    assert (a_keys.keys != NO_KEY).sum(axis=1).tolist() == [2 + 2 * bands, 1 + bands, 2 + bands]


def test_a_segment_missing_from_every_record(client, data):
    a, b, a_tokens, b_tokens = data
    rng = np.random.default_rng(3)
    no_phones_a = drop_segments(a, rng, (0.0, 1.0, 0.0))
    no_ids_b = drop_segments(b, rng, (1.0, 0.0, 0.0))
    with DaskJoinBackend(client) as backend:
        for x, y in ((no_phones_a, b), (a, no_ids_b), (no_phones_a, no_ids_b)):
            expected = in_process(x, y, a_tokens, b_tokens, 0.72)
            got = backend.blocked_join(
                "d", x, a_tokens, y, b_tokens, 0.72, partitions=3, segments=SEGMENTS, lsh=DEFAULT_LSH
            ).candidate_pairs()
            assert len(expected) > 1000
            assert_same(got, expected)


def test_partitions_without_b_rows_and_sides_sharing_no_key(client, data):
    a, b, a_tokens, b_tokens = data
    few = np.array([5, 900, 2999])  # three B rows: most of 64 partitions have none, and are not sent
    with DaskJoinBackend(client) as backend:
        join = backend.blocked_join(
            "d", a, a_tokens, b[few], b_tokens.take(few), 0.6, partitions=64, segments=SEGMENTS, lsh=DEFAULT_LSH
        )
        got = join.candidate_pairs()
        assert 0 < join.stats.partitions < 64
        assert_same(got, in_process(a, b[few], a_tokens, b_tokens.take(few), 0.6))
        # Tokens only, none shared: nothing pairs, nothing is scored.
        other = BlockingKeys(b_tokens.keys ^ np.uint64(1))
        none = backend.blocked_join("d", a, a_tokens, b, other, 0.72, partitions=3, segments=SEGMENTS)
        assert len(none.candidate_pairs()) == 0 and none.stats.candidates == 0


def test_workers_hold_nothing_but_encodings_and_tagged_keys(client, data, tmp_path):
    a, b, a_tokens, b_tokens = data
    client.register_plugin(RecordWorkerData(str(tmp_path)))
    try:
        with DaskJoinBackend(client) as backend:
            backend.blocked_join(
                "d", a, a_tokens, b, b_tokens, 0.72, partitions=3, segments=SEGMENTS, lsh=DEFAULT_LSH
            ).candidate_pairs()
    finally:
        unregister(client, RecordWorkerData.name)
    records = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert len(records) == 3
    held = {(kind, dtype, tuple(shape[1:])) for items in records for kind, dtype, shape in items}
    inputs = {h for h in held if h[0] != "KeyPartitionAnswer"}
    # Encoding rows; keys with their counts per row, and each key's version tag (uint8).
    assert inputs == {
        ("ndarray", "uint8", (128,)),
        ("ndarray", "uint16", ()),
        ("ndarray", "uint64", ()),
        ("ndarray", "uint8", ()),
    }


# -- through the matcher's join (DatasetJoin) ----------------------------------------------------


class Spy:
    """A DaskJoinBackend whose blocked joins are counted, with the segments they were given."""

    def __init__(self, backend: DaskJoinBackend) -> None:
        self.backend, self.calls = backend, []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def blocked_join(self, *args, **kwargs):
        self.calls.append(kwargs.get("segments"))
        return self.backend.blocked_join(*args, **kwargs)


@pytest.mark.parametrize("all_pairs", [True, False], ids=["all-pairs", "greedy"])
def test_dataset_join_on_dask_runs_v2_there_with_the_in_process_answer(client, data, all_pairs):
    a, b, a_tokens, b_tokens = data
    other = v2_dataset(b, b_tokens)
    admitted = np.flatnonzero(np.arange(len(b)) % 5 != 0)  # the agreement's filter: 4 of 5 B rows
    expected = DatasetJoin().match(a, other, admitted, 0.72, all_pairs=all_pairs, mine_blocking=a_tokens)
    with DaskJoinBackend(client) as backend:
        spy = Spy(backend)
        done = []
        got = DatasetJoin(spy).match(  # type: ignore[arg-type]
            a, other, admitted, 0.72, all_pairs=all_pairs, mine_blocking=a_tokens, progress=lambda d, t: done.append(d)
        )
    assert spy.calls == [SEGMENTS]  # on the cluster, missing-aware
    assert got.blocked and expected.blocked and len(expected.pairs) > 800
    assert_same(got.pairs, expected.pairs)
    assert done and done[-1] == len(a)


def test_dataset_join_on_dask_with_an_empty_side_or_no_tokens(client, data):
    a, b, a_tokens, b_tokens = data
    other = v2_dataset(b, b_tokens)
    with DaskJoinBackend(client) as backend:
        spy = Spy(backend)
        join = DatasetJoin(spy)  # type: ignore[arg-type]
        empty_mine = join.match(a[:0], other, None, 0.72, all_pairs=True, mine_blocking=a_tokens.take([]))
        nothing_admitted = join.match(
            a, other, np.array([], dtype=np.int64), 0.72, all_pairs=False, mine_blocking=a_tokens
        )
        assert len(empty_mine.pairs) == len(nothing_admitted.pairs) == 0
        # Without tokens on one side the join is exhaustive, missing-aware, in process: same as local.
        exhaustive = join.match(a[:300], other, None, 0.72, all_pairs=True)
        assert not exhaustive.blocked
        assert_same(exhaustive.pairs, DatasetJoin().match(a[:300], other, None, 0.72, all_pairs=True).pairs)
    assert spy.calls == []  # nothing to send


# -- in the matcher, default schema (v2), real encodings -----------------------------------------

SECRET = b"aidlink-dask-missing-aware-secret"


def encode_extracts():
    """Two department extracts of one synthetic population, encoded with the default schema (v2.1),
    with their tokens; some records lack an ID, a phone or an address."""
    from aidlink.gateway.encoding import LinkageSchema
    from aidlink.gateway.pipeline import RecordPipeline, RowRefused, schema_fingerprint
    from aidlink.gateway.synthetic import SyntheticPopulation, department_extract

    schema = LinkageSchema.default_chinese()
    assert schema_fingerprint(schema) == DEFAULT_SCHEMA_FINGERPRINT
    pipeline = RecordPipeline(schema, SECRET, 1, today=lambda: date(2025, 6, 30))
    population = SyntheticPopulation.generate(1000, seed=11)
    sides = []
    for department, seed in (("nhsa", 1), ("mca", 2)):
        rows = department_extract(population, department, seed=seed).rows
        encoded = [r for r in pipeline.encode_persons(rows) if not isinstance(r, RowRefused)]
        encodings = np.frombuffer(b"".join(e for e, _ in encoded), dtype=np.uint8).reshape(len(encoded), -1)
        sides.append((encodings, [pipeline.blocking.tokens(p) for _, p in encoded]))
    return sides


def _upload(stub, department: str, name: str, entry: str, encodings, tokens, attributes: dict) -> None:
    upload_dataset(
        stub,
        department,
        name,
        entry,
        encodings,
        schema_fingerprint=DEFAULT_SCHEMA_FINGERPRINT,
        blocking_keys=tokens,
        attributes=attributes,
    )


def _compare(stub, all_pairs: bool):
    matches, summary, _ = compare_datasets(stub, "hrss", "employment", "mca/low-income", 0.72, all_pairs)
    return matches, summary


@pytest.fixture(scope="module")
def matchers(cluster, tmp_path_factory):
    local_cluster, client = cluster
    client.wait_for_workers(WORKERS, timeout=RESTART_SECONDS)
    # the provider's side is the larger: the agreement reveals at most half its records per call
    (b, b_tokens), (a, a_tokens) = encode_extracts()
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
                    dask_insecure_dev=bool(settings),
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
        yield servers, stubs, (a, b)
    finally:
        for channel in channels:
            channel.close()
        for server in servers:
            server.stop(0)


@pytest.mark.parametrize("all_pairs", [True, False], ids=["all-pairs", "greedy"])
def test_the_matcher_on_dask_joins_the_default_schema_there_with_the_local_answer(matchers, all_pairs):
    import urllib.request

    (_, dask_server), (local, dask), (a, b) = matchers
    codes_a, codes_b = SEGMENTS.presence(a), SEGMENTS.presence(b)
    assert (codes_a != 7).sum() > 20 and (codes_b != 7).sum() > 100  # records lacking ID, phone or address
    expected, expected_summary = _compare(local, all_pairs)
    got, summary = _compare(dask, all_pairs)
    assert got == expected and len(expected) > 100  # same refs and scores, same order
    assert summary.matches == expected_summary.matches
    with urllib.request.urlopen(f"http://127.0.0.1:{dask_server.metrics_port}/metrics") as response:
        text = response.read().decode()
    counts = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("aidlink_join_partition_seconds_count") and 'backend="dask"' in line
    ]
    assert counts and sum(counts) >= WORKERS  # key partitions ran on the workers


# -- the benchmark ------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["chinese-person-v2.1", "chinese-person-v3"])
def test_bench_dask_blocked_runs_on_a_schemas_encodings(cluster, schema):
    import io

    from aidlink.bench.dask import bench_dask

    local_cluster, client = cluster
    client.wait_for_workers(WORKERS, timeout=RESTART_SECONDS)
    out = io.StringIO()
    [row] = bench_dask([600], WORKERS, scheduler=local_cluster.scheduler_address, blocked=True, schema=schema, out=out)
    assert row["identical"] and row["pairs"] > 300 and row["completeness"] > 0.9
    assert min(row["records"]) > 500 and row["partitions"] == WORKERS
    text = out.getvalue()
    segmented = schema == "chinese-person-v2.1"  # the default: optional segments, compared missing-aware
    assert f"{schema} encodings" in text and ("missing-aware" in text) == segmented
    assert ("threshold 0.72" in text) == segmented


def test_bench_dask_schema_needs_the_blocked_join(capsys):
    from aidlink.bench.dask import main

    assert main(["--schema", "chinese-person-v2", "--sizes", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--schema needs --blocked" in err
