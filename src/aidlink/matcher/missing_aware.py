"""Missing-aware comparison: two records are scored only on the segments both of them have.

A segmented schema (linkage schema v2, :mod:`gateway.encoding.segments`) keeps each optional
field group (resident ID, phone, address) in a segment of its own, all zeros when the record
has no value for it. Scoring two records on the whole vector would count a missing ID as an
ID that disagrees; here a pair where either side lacks a segment is scored with that segment
zeroed on both sides, i.e. the Dice coefficient over the segments both records carry.

The matcher learns only what it sees anyway: which segments of an encoding are all zeros.

No kernel changes: records are grouped by which optional segments they have; for each pair of
groups (at most 2**k by 2**k for k optional segments, most of them small) the segments not
shared are zeroed (numpy masking) and the ordinary Dice kernels run on the two subsets; the
parts are merged into one candidate set in canonical order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from aidlink.matcher.comparison import DEFAULT_CHUNK_ROWS, Blocking, MatchOutcome, candidate_chunks
from aidlink.matcher.similarity import CandidatePairs, greedy_link_pairs
from aidlink.matcher.similarity.blocking import BlockingKeys
from aidlink.matcher.similarity.lsh import BitSamplingLsh

# (subset of A, subset of B, their rows in A, their rows in B) -> pairs indexed within the subsets
PairFinder = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], CandidatePairs]


@dataclass(frozen=True)
class OptionalSegments:
    """The optional segments of a schema's encodings, as (first bit, bits); byte-aligned."""

    ranges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        for start, bits in self.ranges:
            if start % 8 or bits % 8 or bits <= 0:
                raise ValueError(f"segment ({start}, {bits}) is not byte-aligned")

    def presence(self, encodings: np.ndarray) -> np.ndarray:
        """(n,) int: bit i set when the record has any bit set in optional segment i."""
        codes = np.zeros(len(encodings), dtype=np.int64)
        for i, (start, bits) in enumerate(self.ranges):
            present = encodings[:, start // 8 : (start + bits) // 8].any(axis=1)
            codes |= present.astype(np.int64) << i
        return codes

    def zeroed(self, encodings: np.ndarray, drop: int) -> np.ndarray:
        """A copy of ``encodings`` with the segments whose bit is set in ``drop`` zeroed (no copy if none)."""
        if not drop:
            return encodings
        out = np.array(encodings, copy=True)
        for i, (start, bits) in enumerate(self.ranges):
            if drop >> i & 1:
                out[:, start // 8 : (start + bits) // 8] = 0
        return out


def missing_aware_pairs(
    a: np.ndarray, b: np.ndarray, segments: OptionalSegments, find: PairFinder
) -> tuple[CandidatePairs, int]:
    """Candidate pairs of ``a`` x ``b`` (uint8 rows), each scored on the segments both records
    have; ``find`` runs the ordinary join on one (masked) subset pair. Returns the pairs (rows of
    ``a`` and ``b``, canonical order) and how many subset joins ran."""
    codes_a, codes_b = segments.presence(a), segments.presence(b)
    groups_a = _groups(codes_a)
    groups_b = _groups(codes_b)
    parts: list[CandidatePairs] = []
    for code_a, rows_a in groups_a:
        for code_b, rows_b in groups_b:
            shared = code_a & code_b
            sub_a = segments.zeroed(a[rows_a], code_a & ~shared)
            sub_b = segments.zeroed(b[rows_b], code_b & ~shared)
            found = find(sub_a, sub_b, rows_a, rows_b)
            if len(found):
                parts.append(CandidatePairs(found.scores, rows_a[found.a_index], rows_b[found.b_index]))
    return CandidatePairs.concatenate(parts), len(groups_a) * len(groups_b)


def _groups(codes: np.ndarray) -> Sequence[tuple[int, np.ndarray]]:
    order = np.argsort(codes, kind="stable")
    values, starts = np.unique(codes[order], return_index=True)
    ends = list(starts[1:]) + [len(order)]
    return [(int(v), order[s:e].astype(np.int64)) for v, s, e in zip(values, starts, ends)]


def missing_aware_match(
    mine: np.ndarray,
    other: np.ndarray,
    threshold: float,
    segments: OptionalSegments,
    *,
    all_pairs: bool,
    mine_blocking: BlockingKeys | None = None,
    other_blocking: BlockingKeys | None = None,
    lsh: BitSamplingLsh | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> MatchOutcome:
    """Links between rows of ``mine`` and ``other``, each pair scored on the segments both have;
    blocked (tokens, plus ``lsh`` bands) when both sides' blocking keys are given, else exhaustive.
    ``all_pairs`` False: greedy 1-to-1 links over the merged pairs."""
    blocked = mine_blocking is not None and other_blocking is not None and threshold > 0
    comparisons = 0

    def find(a: np.ndarray, b: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> CandidatePairs:
        nonlocal comparisons
        keys = None
        if blocked and mine_blocking is not None and other_blocking is not None:
            keys = Blocking(mine_blocking.take(rows_a), other_blocking.take(rows_b), lsh)
        chunks, count = candidate_chunks(a, b, threshold, blocking=keys, chunk_rows=chunk_rows)
        found = CandidatePairs.concatenate(list(chunks))
        comparisons += count()
        return found

    if len(mine) == 0 or len(other) == 0:
        return MatchOutcome(CandidatePairs.empty(), 0, blocked)
    candidates, _ = missing_aware_pairs(np.asarray(mine), np.asarray(other), segments, find)
    if not all_pairs:
        candidates = greedy_link_pairs(candidates)
    return MatchOutcome(candidates, comparisons, blocked)
