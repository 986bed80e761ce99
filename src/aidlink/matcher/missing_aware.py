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
from aidlink.matcher.similarity import CandidatePairs, greedy_link_pairs, pack
from aidlink.matcher.similarity.blocking import NO_KEY, BlockingKeys
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


class MaskedBandKeys:
    """The LSH band keys of the masked subsets :func:`missing_aware_pairs` hands its finder, each
    computed once per (side, presence group, segments kept): a group meets several groups of the
    other side that leave it the same segments (one call of ``missing_aware_pairs`` only)."""

    def __init__(self, segments: OptionalSegments, lsh: BitSamplingLsh) -> None:
        self.segments, self.lsh = segments, lsh
        self.found: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, side: int, sub: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), bands)`` band keys of ``sub`` (the masked rows ``rows`` of side 0 or 1)."""
        kept = int(self.segments.presence(sub[:1])[0])  # a group's records all keep the same segments
        key = (side, int(rows[0]), kept)  # groups are disjoint: the first row names one
        if key not in self.found:
            self.found[key] = (rows, self.lsh.band_keys(pack(sub)))
        return self.found[key][1]


def scored_band_keys(
    a: np.ndarray, b: np.ndarray, segments: OptionalSegments, lsh: BitSamplingLsh
) -> tuple[np.ndarray, np.ndarray]:
    """Per record of ``a`` and of ``b``, the LSH band keys of every masked version of it that
    :func:`missing_aware_pairs` joins (one per other-side presence group it meets, fewer when
    several leave it the same segments), NO_KEY-padded ``(records, bands * versions)`` uint64.

    A blocked missing-aware join pairs two records when they share a token or a band key of
    their versions masked to the segments both have; a key partition sent every record with one
    of these keys or tokens in it holds every record that can pair there."""
    bands = MaskedBandKeys(segments, lsh)

    def collect(sub_a: np.ndarray, sub_b: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> CandidatePairs:
        bands(0, sub_a, rows_a)
        bands(1, sub_b, rows_b)
        return CandidatePairs.empty()

    if len(a) and len(b):
        missing_aware_pairs(a, b, segments, collect)
    return _stack(bands.found, 0, len(a), lsh.bands), _stack(bands.found, 1, len(b), lsh.bands)


def _stack(found: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]], side: int, n: int, bands: int):
    versions: dict[int, int] = {}  # group -> versions placed so far
    for s, group, _ in found:
        if s == side:
            versions[group] = versions.get(group, 0) + 1
    out = np.full((n, bands * max(versions.values(), default=0)), NO_KEY, dtype=np.uint64)
    placed: dict[int, int] = {}
    for (s, group, _), (rows, keys) in found.items():
        if s == side:
            column = bands * placed.get(group, 0)
            out[rows, column : column + bands] = keys
            placed[group] = placed.get(group, 0) + 1
    return out


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
    bands = MaskedBandKeys(segments, lsh) if lsh is not None else None

    def find(a: np.ndarray, b: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> CandidatePairs:
        nonlocal comparisons
        keys = None
        if blocked and mine_blocking is not None and other_blocking is not None:
            keys_a, keys_b = mine_blocking.take(rows_a), other_blocking.take(rows_b)
            if bands is not None:  # ``Blocking.keys``, each masked group's bands computed once
                keys_a, keys_b = keys_a.with_keys(bands(0, a, rows_a)), keys_b.with_keys(bands(1, b, rows_b))
            keys = Blocking(keys_a, keys_b, None)
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
