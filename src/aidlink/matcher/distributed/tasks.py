"""What runs on a Dask worker: the local Dice kernel on one shard, or the blocked join
on one key partition.

Workers receive uint8 encodings only (the shard, and the query rows that can pair in
it; or a key partition's rows of both sides with their uint64 blocking keys in that
partition); row positions of a filter, the threshold and a thread count come as
arguments. Answers carry shard- or partition-local indices; the matcher maps them back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aidlink.matcher.distributed.key_partitions import dense
from aidlink.matcher.missing_aware import ANY_VERSION, OptionalSegments, VersionKeys, missing_aware_pairs
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack
from aidlink.matcher.similarity.blocking import NO_KEY, BlockedJoin, BlockingKeys
from aidlink.observability.tracing import span_from

TASK_PREFIX = "aidlink-join-"
BLOCKED_TASK_PREFIX = f"{TASK_PREFIX}blocked-"


@dataclass(frozen=True)
class PartitionAnswer:
    shard_rows: int  # rows the worker's shard held (checked against the layout)
    pairs: CandidatePairs  # a_index: query-subset row, b_index: (filtered) shard row
    seconds: float


def join_partition(
    shard: np.ndarray,
    query: np.ndarray,
    keep: np.ndarray | None,
    threshold: float,
    threads: int,
    trace_context: Mapping[str, str] | None = None,
) -> PartitionAnswer:
    """Pairs between ``query`` and the shard rows ``keep`` (all rows when None).

    ``trace_context``: the compare's trace (W3C headers), continued by a span on the worker."""
    started = time.perf_counter()
    with span_from(trace_context, "aidlink.join.partition", "dask-worker", **{"aidlink.join.rows_query": len(query)}):
        b = shard if keep is None else shard[keep]
        pairs = candidate_pairs(pack(query), pack(b), threshold, threads=threads)
    return PartitionAnswer(len(shard), pairs, time.perf_counter() - started)


@dataclass(frozen=True)
class KeyPartitionAnswer:
    rows: tuple[int, int]  # A and B rows the worker held (checked against the plan)
    pairs: CandidatePairs  # partition-local indices, canonical order
    candidates: int  # distinct pairs sharing a key of this partition
    seconds: float


def join_key_partition(
    a: np.ndarray,
    a_key_counts: np.ndarray,
    a_keys: np.ndarray,
    b: np.ndarray,
    b_key_counts: np.ndarray,
    b_keys: np.ndarray,
    threshold: float,
    threads: int,
    trace_context: Mapping[str, str] | None = None,
) -> KeyPartitionAnswer:
    """The blocked join of one key partition: pairs sharing one of its keys, Dice >= threshold.

    Keys come ragged (a count per row, then the rows' keys in order). A pair sharing several
    of the partition's keys is scored once (``BlockedJoin``'s rule)."""
    started = time.perf_counter()
    with span_from(trace_context, "aidlink.join.key_partition", "dask-worker", **{"aidlink.join.rows_query": len(a)}):
        a_blocking = BlockingKeys.from_ragged(a_key_counts, a_keys)
        b_blocking = BlockingKeys.from_ragged(b_key_counts, b_keys)
        join = BlockedJoin(a, a_blocking, b, b_blocking, threshold, threads=threads)
        pairs = join.all()
    return KeyPartitionAnswer((len(a), len(b)), pairs, join.candidates, time.perf_counter() - started)


def join_key_partition_missing_aware(
    a: np.ndarray,
    a_key_counts: np.ndarray,
    a_keys: np.ndarray,
    a_kept: np.ndarray,
    b: np.ndarray,
    b_key_counts: np.ndarray,
    b_keys: np.ndarray,
    b_kept: np.ndarray,
    threshold: float,
    threads: int,
    segments: OptionalSegments,
    trace_context: Mapping[str, str] | None = None,
) -> KeyPartitionAnswer:
    """The missing-aware blocked join of one key partition: pairs sharing one of its keys in the
    version of both records masked to the segments both have, scored on those segments.

    ``matcher.missing_aware.missing_aware_pairs`` on the partition's records, with the in-process
    finder's blocked join (``BlockedJoin``) on each presence-group pair, given the records' keys
    of that pair's version in this partition. Keys come ragged (a count per row, then the rows'
    keys in order), each with its version tag (``VersionKeys.kept``)."""
    started = time.perf_counter()
    candidates = 0
    keys_a = VersionKeys(dense(a_key_counts, a_keys, NO_KEY), dense(a_key_counts, a_kept, ANY_VERSION))
    keys_b = VersionKeys(dense(b_key_counts, b_keys, NO_KEY), dense(b_key_counts, b_kept, ANY_VERSION))

    versions: dict[tuple[int, int, int], np.ndarray] = {}  # (side, group's first row, kept) -> keys

    def version(side: int, rows: np.ndarray, kept: int) -> np.ndarray:
        """A presence group's keys in one version (a group meets several of the other side's
        that leave it the same segments)."""
        key = (side, int(rows[0]), kept)
        if key not in versions:
            versions[key] = (keys_a, keys_b)[side].only(rows, kept)
        return versions[key]

    def find(sub_a: np.ndarray, sub_b: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> CandidatePairs:
        nonlocal candidates
        kept = int(segments.presence(sub_a[:1])[0])  # both subsets keep the segments both groups have
        keys_a, keys_b = version(0, rows_a, kept), version(1, rows_b, kept)
        # Only rows sharing a key with the other side can pair: most of a partition's rows hold
        # none of this version's keys here, or none the other (often small) group has.
        a_rows, b_rows = _sharing(keys_a, keys_b), _sharing(keys_b, keys_a)
        if not len(a_rows) or not len(b_rows):
            return CandidatePairs.empty()
        join = BlockedJoin(
            sub_a[a_rows],
            BlockingKeys(keys_a[a_rows]),
            sub_b[b_rows],
            BlockingKeys(keys_b[b_rows]),
            threshold,
            threads=threads,
        )
        pairs = join.all()  # canonical order, kept by the ascending row maps
        candidates += join.candidates
        return CandidatePairs(pairs.scores, a_rows[pairs.a_index], b_rows[pairs.b_index])

    with span_from(trace_context, "aidlink.join.key_partition", "dask-worker", **{"aidlink.join.rows_query": len(a)}):
        pairs, _ = missing_aware_pairs(a, b, segments, find)
    return KeyPartitionAnswer((len(a), len(b)), pairs, candidates, time.perf_counter() - started)


def _sharing(keys: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The rows (ascending) of ``keys`` (rows sorted) that can pair with a row of ``other``: those
    holding a key, and when ``other`` is much the smaller side, one of its keys (cheap then)."""
    holding = keys[:, 0] != NO_KEY  # NO_KEY sorts last: a row holds a key when its first is one
    if len(other) * 4 < len(keys):
        real = np.unique(other[other != NO_KEY])
        if not len(real):
            return np.empty(0, dtype=np.int64)
        found = real[np.minimum(np.searchsorted(real, keys), len(real) - 1)] == keys
        holding &= (found & (keys != NO_KEY)).any(axis=1)
    return np.flatnonzero(holding)
