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

from aidlink.matcher.comparison import DEFAULT_CHUNK_ROWS, Blocking, MatchOutcome, Progress, candidate_chunks
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


ANY_VERSION = 255  # the version tag of a key every version of a record holds (a token)


@dataclass(frozen=True)
class VersionKeys:
    """Per record, its tokens and the band keys of each masked version of it, NO_KEY-padded
    ``(records, width)`` uint64, with per key the segments its version keeps (a presence code,
    uint8; ``ANY_VERSION`` for tokens and padding)."""

    keys: np.ndarray
    kept: np.ndarray

    def of(self, rows: np.ndarray, kept: np.ndarray | int) -> np.ndarray:
        """The keys of ``rows`` in the version keeping segments ``kept`` (one code, or one per
        row), the others' NO_KEY: the keys the in-process missing-aware join gives them there."""
        tags = self.kept[rows]
        mine = (tags == ANY_VERSION) | (tags == np.asarray(kept, dtype=np.int64).reshape(-1, 1))
        return np.where(mine, self.keys[rows], NO_KEY)

    def only(self, rows: np.ndarray, kept: int) -> np.ndarray:
        """The keys of ``rows`` in the version keeping segments ``kept``: rows sorted, NO_KEY-padded,
        no wider than the most any of them has."""
        keys, tags = self.keys[rows], self.kept[rows]
        mine = ((tags == ANY_VERSION) | (tags == kept)) & (keys != NO_KEY)
        keys = np.sort(np.where(mine, keys, NO_KEY), axis=1)
        return np.ascontiguousarray(keys[:, : max(int(mine.sum(axis=1).max(initial=0)), 1)])  # not a view


def version_keys(
    a: np.ndarray,
    a_tokens: np.ndarray,
    b: np.ndarray,
    b_tokens: np.ndarray,
    segments: OptionalSegments,
    lsh: BitSamplingLsh | None,
) -> tuple[VersionKeys, VersionKeys]:
    """Each side's tokens (``(records, k)`` uint64) and the LSH band keys of every masked version
    of its records that :func:`missing_aware_pairs` joins (one per other-side presence group it
    meets, fewer when several leave it the same segments); ``lsh`` None: the tokens only.

    A blocked missing-aware join pairs two records when they share a key of their versions masked
    to the segments both have (tokens belong to every version), and scores the pair under the
    smallest such key."""
    if len(segments.ranges) >= 8:
        raise ValueError(f"{len(segments.ranges)} optional segments; version tags hold at most 7")
    found: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
    if lsh is not None and len(a) and len(b):
        bands = MaskedBandKeys(segments, lsh)

        def collect(sub_a: np.ndarray, sub_b: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> CandidatePairs:
            bands(0, sub_a, rows_a)
            bands(1, sub_b, rows_b)
            return CandidatePairs.empty()

        missing_aware_pairs(a, b, segments, collect)
        found = bands.found
    width = lsh.bands if lsh is not None else 0
    return _stack(found, 0, a_tokens, width), _stack(found, 1, b_tokens, width)


def _stack(found: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]], side: int, tokens: np.ndarray, bands: int):
    versions: dict[int, int] = {}  # group (its first row) -> versions
    for s, group, _ in found:
        if s == side:
            versions[group] = versions.get(group, 0) + 1
    n, columns = len(tokens), tokens.shape[1]
    width = columns + bands * max(versions.values(), default=0)
    keys = np.full((n, width), NO_KEY, dtype=np.uint64)
    kept = np.full((n, width), ANY_VERSION, dtype=np.uint8)
    keys[:, :columns] = tokens
    placed: dict[int, int] = {}
    for (s, group, code), (rows, band_keys) in found.items():
        if s == side:
            column = columns + bands * placed.get(group, 0)
            keys[rows, column : column + bands] = band_keys
            kept[rows, column : column + bands] = code
            placed[group] = placed.get(group, 0) + 1
    return VersionKeys(keys, kept)


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
    progress: Progress | None = None,
) -> MatchOutcome:
    """Links between rows of ``mine`` and ``other``, each pair scored on the segments both have;
    blocked (tokens, plus ``lsh`` bands) when both sides' blocking keys are given, else exhaustive.
    ``all_pairs`` False: greedy 1-to-1 links over the merged pairs. ``progress(done, total)`` in
    rows of ``mine`` after each presence-group pair, by its share of ``mine`` x ``other``."""
    blocked = mine_blocking is not None and other_blocking is not None and threshold > 0
    comparisons = 0
    covered, area = 0, len(mine) * len(other)
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
        if progress:
            nonlocal covered
            covered += len(a) * len(b)
            progress(len(mine) * covered // area, len(mine))
        return found

    if len(mine) == 0 or len(other) == 0:
        if progress:
            progress(len(mine), len(mine))
        return MatchOutcome(CandidatePairs.empty(), 0, blocked)
    candidates, _ = missing_aware_pairs(np.asarray(mine), np.asarray(other), segments, find)
    if not all_pairs:
        candidates = greedy_link_pairs(candidates)
    return MatchOutcome(candidates, comparisons, blocked)
