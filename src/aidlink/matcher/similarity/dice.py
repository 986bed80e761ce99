"""Sørensen–Dice similarity join over packed binary encodings.

Results are identical to anonlink's ``find_candidate_pairs([A, B],
dice_coefficient_accelerated, threshold)``: the same pairs, the same scores bit for bit
(``2 * |A & B|`` divided by ``|A| + |B|`` in double precision), the same order (score
descending, then A index, then B index) and the same ``>= threshold`` rule, including
anonlink's popcount pruning (see :mod:`matcher.similarity.bounds`) and its handling of
all-zero encodings (score 0.0, returned only when ``threshold <= 0``).

How it is fast: rows of A and B are sorted by popcount so each A row only meets the
contiguous run of B rows whose popcount can still reach the threshold; A rows are
processed in blocks against cache-sized tiles of B; the inner loop is ``popcount(a & b)``
over 64-bit words, which LLVM compiles to ``popcnt``/``vpopcntq``; blocks run in parallel
with numba ``prange``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator

import numba
import numpy as np
from numba import njit, prange

from aidlink.matcher.similarity.bounds import min_common_counts, popcount_windows
from aidlink.matcher.similarity.candidates import CandidatePairs, canonical_order
from aidlink.matcher.similarity.packing import Encodings, pack, popcounts
from aidlink.matcher.similarity.popcount import popcount64, row_popcounts

# A rows per work unit, and B rows per cache tile (512 x 128 bytes = 64 KiB at 1024 bits).
_BLOCK_ROWS = 64
_TILE_BYTES = 64 * 1024
# Room for matches per A row in the first pass; blocks that overflow are re-run.
_FIRST_PASS_MATCHES_PER_ROW = 8

# numba's "workqueue" threading layer (its fallback where neither OpenMP nor TBB is
# present) aborts the process on concurrent parallel calls, and set_num_threads is
# per calling thread, so parallel calls are serialised; each already uses the threads
# it asks for. Single-threaded calls release the GIL and run concurrently.
_PARALLEL_LOCK = threading.Lock()

ProgressCallback = Callable[[int, int], None]


@njit(cache=True, nogil=True)
def _best_common(a_words, i, b_cols, lo, hi, width):  # pragma: no cover - compiled
    """Largest ``popcount(a[i] & b[j])`` over B columns ``lo <= j < hi``.

    ``b_cols`` is B transposed (words x rows) so the loop over ``j`` vectorises: the
    word count comes from the length of the ``width`` tuple, a compile-time constant,
    so the word loop unrolls and each vector lane handles one B row. Unsigned indices
    spare numba's negative-index wraparound, which would turn the loads into gathers.
    """
    nwords = len(width)
    best = 0
    row = np.uint64(i)
    for j in range(np.uint64(lo), np.uint64(hi)):
        common = 0
        for w in range(nwords):
            common += popcount64(a_words[row, np.uint64(w)] & b_cols[np.uint64(w), j])
        best = max(best, common)
    return best


@njit(cache=True, nogil=True)
def _best_common_pair(a_words, i, b_cols, lo, hi, width):  # pragma: no cover - compiled
    """:func:`_best_common` for A rows ``i`` and ``i + 1`` at once (each B load used twice)."""
    nwords = len(width)
    best0 = 0
    best1 = 0
    row0 = np.uint64(i)
    row1 = row0 + np.uint64(1)
    for j in range(np.uint64(lo), np.uint64(hi)):
        common0 = 0
        common1 = 0
        for w in range(nwords):
            word = b_cols[np.uint64(w), j]
            common0 += popcount64(a_words[row0, np.uint64(w)] & word)
            common1 += popcount64(a_words[row1, np.uint64(w)] & word)
        best0 = max(best0, common0)
        best1 = max(best1, common1)
    return best0, best1


@njit(cache=True, nogil=True)
def _best_bound(a_words, i, a_rest, b_cols, b_rest, lo, hi, half):  # pragma: no cover - compiled
    """Largest upper bound on ``popcount(a[i] & b[j])`` over B columns ``lo <= j < hi``, from the
    first ``len(half)`` words only: their exact intersection plus ``min`` of both rows' popcounts
    in the remaining words (no more bits can be shared there).

    For unrelated encodings the first half's intersection is small and the bound falls short
    of the threshold, so most tiles are ruled out at half the popcount work; the exact
    passes that follow decide every pair that is not.
    """
    nwords = len(half)
    best = 0
    row = np.uint64(i)
    rest = a_rest[row]
    for j in range(np.uint64(lo), np.uint64(hi)):
        common = min(rest, b_rest[j])
        for w in range(nwords):
            common += popcount64(a_words[row, np.uint64(w)] & b_cols[np.uint64(w), j])
        best = max(best, common)
    return best


@njit(cache=True, nogil=True)
def _best_bound_pair(a_words, i, a_rest, b_cols, b_rest, lo, hi, half):  # pragma: no cover - compiled
    """:func:`_best_bound` for A rows ``i`` and ``i + 1`` at once (each B load used twice)."""
    nwords = len(half)
    best0 = 0
    best1 = 0
    row0 = np.uint64(i)
    row1 = row0 + np.uint64(1)
    rest0 = a_rest[row0]
    rest1 = a_rest[row1]
    for j in range(np.uint64(lo), np.uint64(hi)):
        brest = b_rest[j]
        common0 = min(rest0, brest)
        common1 = min(rest1, brest)
        for w in range(nwords):
            word = b_cols[np.uint64(w), j]
            common0 += popcount64(a_words[row0, np.uint64(w)] & word)
            common1 += popcount64(a_words[row1, np.uint64(w)] & word)
        best0 = max(best0, common0)
        best1 = max(best1, common1)
    return best0, best1


@njit(cache=True, nogil=True)
def _collect_row(
    a_words, a_pop, i, b_cols, b_pop, lo, hi, threshold, out_a, out_b, out_s, found
):  # pragma: no cover - compiled
    """Score A row ``i`` against B rows ``lo <= j < hi`` exactly; store pairs that pass.

    Returns the new match count; matches past the output capacity are only counted.
    """
    cap = out_a.shape[0]
    nwords = a_words.shape[1]
    pa = a_pop[i]
    for j in range(lo, hi):
        common = 0
        for w in range(nwords):
            common += popcount64(a_words[i, w] & b_cols[w, j])
        # anonlink: (2 * uv_popc) / (double) (u_popc + v_popc), compared with >=.
        score = np.float64(2 * common) / np.float64(pa + b_pop[j])
        if score >= threshold:
            if found < cap:
                out_a[found] = i
                out_b[found] = j
                out_s[found] = score
            found += 1
    return found


@njit(cache=True, nogil=True)
def _join_block(
    a_words,
    a_pop,
    a_rest,
    row_lo,
    row_hi,
    b_cols,
    b_pop,
    b_rest,
    min_common,
    r0,
    r1,
    b_tile,
    threshold,
    out_a,
    out_b,
    out_s,
    width,
    half,
):  # pragma: no cover - compiled
    """All passing pairs for A rows ``r0 <= i < r1``; returns the match count.

    B is walked in cache-sized tiles. Per row (two at a time) and tile, three passes, each
    run only where the one before could not rule the tile out against ``min_common`` (the
    least intersection that can score ``>= threshold`` at the tile's smallest popcount sum):
    a vectorised bound from the first half of the words (:func:`_best_bound`), the
    vectorised best exact intersection (:func:`_best_common`), then exact scores within
    the row's own popcount window (:func:`_collect_row`). The first two only skip work.
    """
    b_start = b_pop.shape[0]
    b_stop = 0
    for i in range(r0, r1):
        if row_lo[i] < row_hi[i]:
            b_start = min(b_start, row_lo[i])
            b_stop = max(b_stop, row_hi[i])
    found = 0
    for tile_start in range(b_start, b_stop, b_tile):
        tile_stop = min(tile_start + b_tile, b_stop)
        i = r0
        while i < r1:
            lo0 = max(row_lo[i], tile_start)
            hi0 = min(row_hi[i], tile_stop)
            if i + 1 < r1:
                lo1 = max(row_lo[i + 1], tile_start)
                hi1 = min(row_hi[i + 1], tile_stop)
                if lo0 < hi0 and lo1 < hi1:
                    lo = min(lo0, lo1)
                    hi = max(hi0, hi1)
                    need0 = min_common[a_pop[i] + b_pop[lo]]
                    need1 = min_common[a_pop[i + 1] + b_pop[lo]]
                    bound0, bound1 = _best_bound_pair(a_words, i, a_rest, b_cols, b_rest, lo, hi, half)
                    if bound0 >= need0 or bound1 >= need1:
                        best0, best1 = _best_common_pair(a_words, i, b_cols, lo, hi, width)
                        if bound0 >= need0 and best0 >= need0:
                            found = _collect_row(
                                a_words, a_pop, i, b_cols, b_pop, lo0, hi0, threshold, out_a, out_b, out_s, found
                            )
                        if bound1 >= need1 and best1 >= need1:
                            found = _collect_row(
                                a_words, a_pop, i + 1, b_cols, b_pop, lo1, hi1, threshold, out_a, out_b, out_s, found
                            )
                    i += 2
                    continue
            if lo0 < hi0:
                need0 = min_common[a_pop[i] + b_pop[lo0]]
                if _best_bound(a_words, i, a_rest, b_cols, b_rest, lo0, hi0, half) >= need0:
                    if _best_common(a_words, i, b_cols, lo0, hi0, width) >= need0:
                        found = _collect_row(
                            a_words, a_pop, i, b_cols, b_pop, lo0, hi0, threshold, out_a, out_b, out_s, found
                        )
            i += 1
    return found


@njit(cache=True, parallel=True)
def _join_blocks_parallel(
    a_words,
    a_pop,
    a_rest,
    row_lo,
    row_hi,
    b_cols,
    b_pop,
    b_rest,
    min_common,
    block_starts,
    blocks,
    b_tile,
    threshold,
    out_a,
    out_b,
    out_s,
    counts,
    width,
    half,
):  # pragma: no cover - compiled
    for k in prange(blocks.shape[0]):
        block = blocks[k]
        counts[k] = _join_block(
            a_words,
            a_pop,
            a_rest,
            row_lo,
            row_hi,
            b_cols,
            b_pop,
            b_rest,
            min_common,
            block_starts[block],
            block_starts[block + 1],
            b_tile,
            threshold,
            out_a[k],
            out_b[k],
            out_s[k],
            width,
            half,
        )


@njit(cache=True, nogil=True)
def _join_blocks_serial(
    a_words,
    a_pop,
    a_rest,
    row_lo,
    row_hi,
    b_cols,
    b_pop,
    b_rest,
    min_common,
    block_starts,
    blocks,
    b_tile,
    threshold,
    out_a,
    out_b,
    out_s,
    counts,
    width,
    half,
):  # pragma: no cover - compiled
    for k in range(blocks.shape[0]):
        block = blocks[k]
        counts[k] = _join_block(
            a_words,
            a_pop,
            a_rest,
            row_lo,
            row_hi,
            b_cols,
            b_pop,
            b_rest,
            min_common,
            block_starts[block],
            block_starts[block + 1],
            b_tile,
            threshold,
            out_a[k],
            out_b[k],
            out_s[k],
            width,
            half,
        )


def _resolve_threads(threads: int | None) -> int:
    available: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # set at import
    if threads is None:
        return available
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads!r}")
    if threads > available:
        raise ValueError(f"threads={threads} exceeds the {available} threads numba can use")
    return threads


def _check_threshold(threshold: float) -> float:
    value = float(threshold)
    if math.isnan(value):
        raise ValueError("threshold is NaN; expected a number (pairs need score >= threshold)")
    return value


def _interleaved(n_blocks: int, threads: int) -> np.ndarray:
    """Block order giving each thread of a static prange split every threads-th block.

    A is sorted by popcount and work per row grows with popcount, so contiguous splits
    would leave one thread with the heavy end.
    """
    return np.concatenate([np.arange(t, n_blocks, threads) for t in range(threads)]).astype(np.int64)


def _run_blocks(
    args: tuple, block_starts: np.ndarray, blocks: np.ndarray, capacity: int, threads: int
) -> tuple[np.ndarray, ...]:
    out_a = np.empty((len(blocks), capacity), dtype=np.int64)
    out_b = np.empty((len(blocks), capacity), dtype=np.int64)
    out_s = np.empty((len(blocks), capacity), dtype=np.float64)
    counts = np.zeros(len(blocks), dtype=np.int64)
    a_words, a_pop, a_rest, row_lo, row_hi, b_cols, b_pop, b_rest, min_common, b_tile, threshold = args
    call_args = (
        a_words,
        a_pop,
        a_rest,
        row_lo,
        row_hi,
        b_cols,
        b_pop,
        b_rest,
        min_common,
        block_starts,
        blocks,
        b_tile,
        threshold,
        out_a,
        out_b,
        out_s,
        counts,
        (0,) * a_words.shape[1],
        (0,) * (a_words.shape[1] // 2),
    )  # the word count and its half, as types numba specialises on
    if threads == 1:
        _join_blocks_serial(*call_args)
    else:
        with _PARALLEL_LOCK:
            previous = numba.get_num_threads()
            numba.set_num_threads(threads)
            try:
                _join_blocks_parallel(*call_args)
            finally:
                numba.set_num_threads(previous)
    return out_a, out_b, out_s, counts


class _SortedSide:
    """One dataset packed, popcounted and sorted by popcount."""

    def __init__(self, encodings: Encodings) -> None:
        words = pack(encodings)
        pop = popcounts(words)
        self.order = np.argsort(pop, kind="stable")
        self.words = np.ascontiguousarray(words[self.order])
        self.pop = np.ascontiguousarray(pop[self.order])
        self._columns: np.ndarray | None = None
        self._rest: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pop)

    @property
    def columns(self) -> np.ndarray:
        """The sorted encodings transposed to (words, rows), built on first use."""
        if self._columns is None:
            self._columns = np.ascontiguousarray(self.words.T)
        return self._columns

    @property
    def rest(self) -> np.ndarray:
        """Per sorted row, the popcount of the words past the first half (see :func:`_best_bound`)."""
        if self._rest is None:
            self._rest = self.pop - row_popcounts(np.ascontiguousarray(self.words[:, : self.nwords // 2]))
        return self._rest

    @property
    def nwords(self) -> int:
        return self.words.shape[1]


def _check_widths(a: _SortedSide, b: _SortedSide) -> None:
    if a.nwords != b.nwords:
        raise ValueError(
            f"dataset A encodings are {a.nwords * 64} bits but dataset B encodings are "
            f"{b.nwords * 64} bits; both must have the same length"
        )


def _join(a: _SortedSide, a_rows: np.ndarray, b: _SortedSide, threshold: float, threads: int) -> CandidatePairs:
    """Candidate pairs for the A rows ``a_rows`` (original indices), in canonical order."""
    if len(a_rows) == 0 or len(b) == 0:
        return CandidatePairs.empty()
    a_words = np.ascontiguousarray(a.words[a_rows])
    a_pop = np.ascontiguousarray(a.pop[a_rows])
    a_original = a.order[a_rows]
    bits = a.nwords * 64
    low, high = popcount_windows(a_pop, bits, threshold)
    row_lo = np.searchsorted(b.pop, low, side="left").astype(np.int64)
    row_hi = np.searchsorted(b.pop, high, side="right").astype(np.int64)
    row_hi = np.maximum(row_hi, row_lo)

    block_starts = np.arange(0, len(a_rows) + _BLOCK_ROWS, _BLOCK_ROWS, dtype=np.int64)
    block_starts[-1] = len(a_rows)
    n_blocks = len(block_starts) - 1
    b_tile = max(1, _TILE_BYTES // (a.nwords * 8))
    min_common = min_common_counts(2 * bits, threshold)
    a_rest = a_pop - row_popcounts(np.ascontiguousarray(a_words[:, : a.nwords // 2]))
    args = (a_words, a_pop, a_rest, row_lo, row_hi, b.columns, b.pop, b.rest, min_common, b_tile, threshold)

    blocks = _interleaved(n_blocks, threads)
    capacity = _BLOCK_ROWS * _FIRST_PASS_MATCHES_PER_ROW
    out_a, out_b, out_s, counts = _run_blocks(args, block_starts, blocks, capacity, threads)
    parts = [(out_a[k, :c], out_b[k, :c], out_s[k, :c]) for k, c in enumerate(counts.tolist()) if 0 < c <= capacity]
    overflowed = np.flatnonzero(counts > capacity)
    if len(overflowed):
        again = blocks[overflowed]
        capacity = int(counts[overflowed].max())
        out_a, out_b, out_s, counts = _run_blocks(args, block_starts, again, capacity, threads)
        parts += [(out_a[k, :c], out_b[k, :c], out_s[k, :c]) for k, c in enumerate(counts.tolist())]

    a_idx = [a_original[p[0]] for p in parts]
    b_idx = [b.order[p[1]] for p in parts]
    scores = [p[2] for p in parts]
    if threshold <= 0:
        # anonlink scores an all-zero A encoding 0.0 against every B record.
        zero_rows = a_original[a_pop == 0]
        a_idx.append(np.repeat(zero_rows, len(b)))
        b_idx.append(np.tile(np.arange(len(b), dtype=np.int64), len(zero_rows)))
        scores.append(np.zeros(len(zero_rows) * len(b), dtype=np.float64))
    if not scores:
        return CandidatePairs.empty()
    all_scores = np.concatenate(scores)
    all_a = np.concatenate(a_idx).astype(np.int64, copy=False)
    all_b = np.concatenate(b_idx).astype(np.int64, copy=False)
    order = canonical_order(all_scores, all_a, all_b)
    return CandidatePairs(all_scores[order], all_a[order], all_b[order])


def candidate_pairs(a: Encodings, b: Encodings, threshold: float, *, threads: int | None = None) -> CandidatePairs:
    """All pairs (row of ``a``, row of ``b``) with Dice score ``>= threshold``.

    ``a`` and ``b`` are packed ``(n, words)`` uint64 arrays from :func:`pack` (or anything
    :func:`pack` accepts). ``threads`` defaults to every core numba may use.
    Identical to anonlink's ``find_candidate_pairs`` with ``dice_coefficient_accelerated``.
    """
    threshold = _check_threshold(threshold)
    threads = _resolve_threads(threads)
    a_side, b_side = _SortedSide(a), _SortedSide(b)
    if len(a_side) == 0 or len(b_side) == 0:
        return CandidatePairs.empty()
    _check_widths(a_side, b_side)
    return _join(a_side, np.arange(len(a_side)), b_side, threshold, threads)


def iter_candidate_chunks(
    a: Encodings,
    b: Encodings,
    threshold: float,
    *,
    chunk_rows: int,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[CandidatePairs]:
    """Stream candidate pairs for successive blocks of ``chunk_rows`` rows of ``a``.

    Chunk ``k`` holds the pairs of A rows ``[k * chunk_rows, (k + 1) * chunk_rows)``
    (original indices), in canonical order; :meth:`CandidatePairs.concatenate` of all
    chunks equals :func:`candidate_pairs`. Result memory is bounded by one chunk's
    matches. ``progress(done_rows, total_rows)`` is called after each chunk is consumed.
    Arguments are checked at call time; the join runs as chunks are requested.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer; got {chunk_rows!r}")
    threshold = _check_threshold(threshold)
    threads = _resolve_threads(threads)
    a_side, b_side = _SortedSide(a), _SortedSide(b)
    if len(a_side) and len(b_side):
        _check_widths(a_side, b_side)
    return _chunks(a_side, b_side, threshold, chunk_rows, threads, progress)


def _chunks(
    a_side: _SortedSide,
    b_side: _SortedSide,
    threshold: float,
    chunk_rows: int,
    threads: int,
    progress: ProgressCallback | None,
) -> Iterator[CandidatePairs]:
    total = len(a_side)
    # Position of each original A row within a_side's popcount order.
    sorted_position = np.empty(total, dtype=np.int64)
    sorted_position[a_side.order] = np.arange(total, dtype=np.int64)
    for start in range(0, total, chunk_rows):
        stop = min(start + chunk_rows, total)
        rows = np.sort(sorted_position[start:stop])
        yield _join(a_side, rows, b_side, threshold, threads)
        if progress is not None:
            progress(stop, total)
