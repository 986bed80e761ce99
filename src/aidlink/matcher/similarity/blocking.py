"""Blocked Dice join: only pairs that share a blocking key are scored.

Each record carries a small set of 64-bit keys (keyed exact tokens from the node,
LSH band keys from its encoding). A pair of records is a candidate when their key
sets intersect; it is scored once (under the smallest key both share), with the
same exact Dice score and the same popcount pruning as the exhaustive kernel, so
its pairs are a subset of the exhaustive join's, with identical scores.

Memory: the B side is indexed once (its keys, sorted, with row numbers); A rows are
processed in chunks and only one chunk's matches are held at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import numba
import numpy as np
from numba import njit, prange

from aidlink.matcher.similarity.bounds import popcount_windows
from aidlink.matcher.similarity.candidates import CandidatePairs, canonical_order
from aidlink.matcher.similarity.dice import _check_threshold, _resolve_threads
from aidlink.matcher.similarity.packing import Encodings, pack, popcounts
from aidlink.matcher.similarity.popcount import popcount64

NO_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)  # padding in a key row; never a real key
KEY_BYTES = 8
_PARALLEL_LOCK = threading.Lock()
_MATCHES_PER_ROW = 4  # room for passing pairs per A row in the first pass
ProgressCallback = Callable[[int, int], None]


def token_key(token: bytes) -> int:
    """The 64-bit key of a keyed token: its first 8 bytes, little-endian (tokens are HMAC output)."""
    if len(token) < KEY_BYTES:
        raise ValueError(f"a blocking token has {len(token)} bytes; at least {KEY_BYTES} are needed")
    key = int.from_bytes(token[:KEY_BYTES], "little")
    return key if key != int(NO_KEY) else int(NO_KEY) - 1


class BlockingKeys:
    """Per-record key sets as a ``(records, width)`` uint64 array: rows sorted, unique, padded."""

    def __init__(self, keys: np.ndarray) -> None:
        if keys.ndim != 2 or keys.dtype != np.uint64:
            raise ValueError(f"blocking keys must be a 2-D uint64 array; got {keys.dtype} {keys.shape}")
        rows = np.sort(keys, axis=1)
        if rows.shape[1] > 1:
            repeated = np.zeros(rows.shape, dtype=bool)
            repeated[:, 1:] = rows[:, 1:] == rows[:, :-1]
            if repeated.any():
                rows[repeated] = NO_KEY
                rows.sort(axis=1)
        self.keys = np.ascontiguousarray(rows)

    def __len__(self) -> int:
        return self.keys.shape[0]

    @classmethod
    def from_ragged(cls, counts: np.ndarray, values: np.ndarray) -> BlockingKeys:
        """From per-record key counts and all keys concatenated in record order."""
        counts = np.asarray(counts, dtype=np.int64)
        values = np.asarray(values, dtype=np.uint64)
        if int(counts.sum()) != len(values):
            raise ValueError(f"key counts add up to {int(counts.sum())} but {len(values)} keys were given")
        width = int(counts.max()) if len(counts) else 0
        out = np.full((len(counts), max(width, 1)), NO_KEY, dtype=np.uint64)
        if len(values):
            rows = np.repeat(np.arange(len(counts)), counts)
            starts = np.cumsum(counts) - counts
            cols = np.arange(len(values)) - np.repeat(starts, counts)
            out[rows, cols] = values
        return cls(out)

    @classmethod
    def from_tokens(cls, tokens: Sequence[Sequence[bytes]]) -> BlockingKeys:
        """From each record's keyed tokens (bytes, as sent in EncodedRecord.blocking_keys)."""
        counts = np.array([len(t) for t in tokens], dtype=np.int64)
        values = np.array([token_key(k) for t in tokens for k in t], dtype=np.uint64)
        return cls.from_ragged(counts, values)

    def take(self, rows: np.ndarray) -> BlockingKeys:
        return BlockingKeys(self.keys[np.asarray(rows, dtype=np.int64)])

    def with_keys(self, extra: np.ndarray) -> BlockingKeys:
        """These keys plus ``extra`` (``(records, k)`` uint64, e.g. LSH band keys) per record."""
        if extra.shape[0] != len(self):
            raise ValueError(f"{extra.shape[0]} rows of extra keys for {len(self)} records")
        return BlockingKeys(np.hstack([self.keys, extra.astype(np.uint64, copy=False)]))

    def records_with_keys(self) -> int:
        return int((self.keys[:, 0] != NO_KEY).sum()) if len(self) else 0


@njit(cache=True, nogil=True)
def _key_ranges(needles, index_keys, lo_out, hi_out):  # pragma: no cover - compiled
    """For each of the ascending ``needles``, the range of ``index_keys`` (ascending) equal to it.

    One forward walk with galloping search from the previous needle's place: each lookup
    costs the logarithm of the distance moved, and touches memory near the last one,
    where a binary search over the whole index per key would miss the cache at every step.
    """
    n = index_keys.shape[0]
    pos = 0
    for t in range(needles.shape[0]):
        key = needles[t]
        if pos < n and index_keys[pos] < key:
            prev = pos
            step = 1
            while pos + step < n and index_keys[pos + step] < key:
                prev = pos + step
                step <<= 1
            lo = prev + 1
            hi = min(pos + step, n)
            while lo < hi:
                mid = (lo + hi) >> 1
                if index_keys[mid] < key:
                    lo = mid + 1
                else:
                    hi = mid
            pos = lo
        stop = pos
        while stop < n and index_keys[stop] == key:
            stop += 1
        lo_out[t] = pos
        hi_out[t] = stop


@njit(cache=True, nogil=True)
def _scan_block(
    rows,
    r0,
    r1,
    a_words,
    a_pop,
    a_keys,
    low,
    high,
    b_words,
    b_pop,
    key_lo,
    key_hi,
    index_rows,
    index_pop,
    threshold,
    seen,
    out_r,
    out_b,
    out_s,
):  # pragma: no cover - compiled
    """Score the candidates of ``rows[r0:r1]``; returns (passing pairs, distinct candidate pairs).

    ``key_lo[r, k]:key_hi[r, k]`` is the run of the B index holding A row ``rows[r]``'s key ``k``.
    A candidate is a B row sharing at least one key with the A row; ``seen[j]`` holds the
    last A row that met B row ``j``, so each pair is counted and scored once whatever number
    of keys it shares. Passing pairs are written (position in ``rows``, B row, score) while
    the outputs have room; past that they are only counted (the caller runs again).
    """
    no_key = np.uint64(0xFFFFFFFFFFFFFFFF)
    nwords = a_words.shape[1]
    cap = out_b.shape[0]
    found = 0
    candidates = 0
    for r in range(r0, r1):
        i = rows[r]
        pa = a_pop[i]
        lo_pop = low[i]
        hi_pop = high[i]
        for k in range(a_keys.shape[1]):
            if a_keys[i, k] == no_key:
                break
            for p in range(key_lo[r, k], key_hi[r, k]):
                j = index_rows[p]
                if seen[j] == i:
                    continue
                seen[j] = i
                candidates += 1
                pb = np.int64(index_pop[p])  # b_pop[j], read in index order rather than at random
                if pb < lo_pop or pb > hi_pop:
                    continue
                common = 0
                for w in range(nwords):
                    common += popcount64(a_words[i, w] & b_words[j, w])
                # anonlink: (2 * uv_popc) / (double) (u_popc + v_popc), compared with >=.
                score = np.float64(2 * common) / np.float64(pa + pb)
                if score >= threshold:
                    if found < cap:
                        out_r[found] = r
                        out_b[found] = j
                        out_s[found] = score
                    found += 1
    return found, candidates


@njit(cache=True, parallel=True)
def _scan_blocks(
    rows,
    block_starts,
    blocks,
    a_words,
    a_pop,
    a_keys,
    low,
    high,
    b_words,
    b_pop,
    key_lo,
    key_hi,
    index_rows,
    index_pop,
    threshold,
    out_r,
    out_b,
    out_s,
    found,
    candidates,
):  # pragma: no cover - compiled
    """:func:`_scan_block` for each block in ``blocks``, in parallel, each with its own outputs."""
    for k in prange(blocks.shape[0]):
        block = blocks[k]
        seen = np.full(b_pop.shape[0], -1, dtype=np.int32)
        f, c = _scan_block(
            rows,
            block_starts[block],
            block_starts[block + 1],
            a_words,
            a_pop,
            a_keys,
            low,
            high,
            b_words,
            b_pop,
            key_lo,
            key_hi,
            index_rows,
            index_pop,
            threshold,
            seen,
            out_r[k],
            out_b[k],
            out_s[k],
        )
        found[k] = f
        candidates[k] = c


class BlockedJoin:
    """Pairs (row of A, row of B) with Dice >= threshold among pairs sharing a key.

    ``candidates`` counts the distinct candidate pairs examined so far (each pair
    sharing any key counts once).
    """

    def __init__(
        self,
        a: Encodings,
        a_keys: BlockingKeys,
        b: Encodings,
        b_keys: BlockingKeys,
        threshold: float,
        *,
        threads: int | None = None,
    ) -> None:
        self.threshold = _check_threshold(threshold)
        if not self.threshold > 0:
            raise ValueError(f"blocking needs a threshold above 0; got {threshold} (use the exhaustive join)")
        self.threads = _resolve_threads(threads)
        self.a, self.b = pack(a), pack(b)
        if len(a_keys) != len(self.a) or len(b_keys) != len(self.b):
            raise ValueError(
                f"blocking keys for {len(a_keys)} and {len(b_keys)} records, but the "
                f"datasets have {len(self.a)} and {len(self.b)}"
            )
        if len(self.a) and len(self.b) and self.a.shape[1] != self.b.shape[1]:
            raise ValueError(f"A has {self.a.shape[1] * 64}-bit and B {self.b.shape[1] * 64}-bit encodings")
        self.a_keys, self.b_keys = a_keys.keys, b_keys.keys
        self.candidates = 0
        if len(self.a) and len(self.b):
            self.a_pop, self.b_pop = popcounts(self.a), popcounts(self.b)
            self.low, self.high = popcount_windows(self.a_pop, self.a.shape[1] * 64, self.threshold)
            flat = self.b_keys.ravel()
            present = np.flatnonzero(flat != NO_KEY)
            order = np.argsort(flat[present])  # the order of rows within a key does not matter
            self.index_keys = np.ascontiguousarray(flat[present][order])
            # int32 rows and popcounts: at a million records and 21 keys each, the index is read
            # once per candidate and its size matters (B popcounts beside the rows spare a random read).
            self.index_rows = (present[order] // self.b_keys.shape[1]).astype(np.int32)
            self.index_pop = self.b_pop[self.index_rows].astype(np.int32)

    def _run(self, kernel, *args) -> None:
        with _PARALLEL_LOCK:
            previous = numba.get_num_threads()
            numba.set_num_threads(self.threads)
            try:
                kernel(*args)
            finally:
                numba.set_num_threads(previous)

    def _ranges(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per A row of ``rows`` and key, the run of the B index sharing it (``lo``, ``hi``)."""
        keys = self.a_keys[rows]
        flat = keys.ravel()
        order = np.argsort(flat)
        lo = np.empty(len(flat), dtype=np.int64)
        hi = np.empty(len(flat), dtype=np.int64)
        _key_ranges(flat[order], self.index_keys, lo, hi)
        key_lo = np.empty(len(flat), dtype=np.int64)
        key_hi = np.empty(len(flat), dtype=np.int64)
        key_lo[order], key_hi[order] = lo, hi
        return key_lo.reshape(keys.shape), key_hi.reshape(keys.shape)

    def _scan(self, rows: np.ndarray, ranges, block_starts: np.ndarray, blocks: np.ndarray, capacity: int):
        out_r = np.empty((len(blocks), capacity), dtype=np.int64)
        out_b = np.empty((len(blocks), capacity), dtype=np.int64)
        out_s = np.empty((len(blocks), capacity), dtype=np.float64)
        found = np.zeros(len(blocks), dtype=np.int64)
        candidates = np.zeros(len(blocks), dtype=np.int64)
        self._run(
            _scan_blocks,
            rows,
            block_starts,
            blocks,
            self.a,
            self.a_pop,
            self.a_keys,
            self.low,
            self.high,
            self.b,
            self.b_pop,
            *ranges,
            self.index_rows,
            self.index_pop,
            self.threshold,
            out_r,
            out_b,
            out_s,
            found,
            candidates,
        )
        return out_r, out_b, out_s, found, candidates

    def rows(self, rows: np.ndarray) -> CandidatePairs:
        """Passing pairs for A rows ``rows`` (original indices), in canonical order.

        One pass over the candidates: the rows are split into a few blocks per thread, each
        writing its pairs into room for ``_MATCHES_PER_ROW`` a row; a block that needed more
        is run again with room for all of them.
        """
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if len(rows) == 0 or len(self.b) == 0:
            return CandidatePairs.empty()
        n_blocks = min(len(rows), 4 * self.threads)
        block_starts = np.linspace(0, len(rows), n_blocks + 1).astype(np.int64)
        blocks = np.arange(n_blocks, dtype=np.int64)
        capacity = int(np.diff(block_starts).max()) * _MATCHES_PER_ROW
        ranges = self._ranges(rows)
        out_r, out_b, out_s, found, candidates = self._scan(rows, ranges, block_starts, blocks, capacity)
        self.candidates += int(candidates.sum())
        parts = [(out_r[k, :c], out_b[k, :c], out_s[k, :c]) for k, c in enumerate(found.tolist()) if c <= capacity]
        overflowed = np.flatnonzero(found > capacity)
        if len(overflowed):
            again = blocks[overflowed]
            out_r, out_b, out_s, found, _ = self._scan(rows, ranges, block_starts, again, int(found[overflowed].max()))
            parts += [(out_r[k, :c], out_b[k, :c], out_s[k, :c]) for k, c in enumerate(found.tolist())]
        out_a = rows[np.concatenate([p[0] for p in parts])]
        out_b = np.concatenate([p[1] for p in parts])
        out_s = np.concatenate([p[2] for p in parts])
        order = canonical_order(out_s, out_a, out_b)
        return CandidatePairs(out_s[order], out_a[order], out_b[order])

    def chunks(self, chunk_rows: int, progress: ProgressCallback | None = None) -> Iterator[CandidatePairs]:
        """Stream pairs for successive blocks of ``chunk_rows`` A rows; ``progress(done, total)``."""
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer; got {chunk_rows!r}")
        total = len(self.a)
        for start in range(0, total, chunk_rows):
            stop = min(start + chunk_rows, total)
            yield self.rows(np.arange(start, stop, dtype=np.int64))
            if progress is not None:
                progress(stop, total)

    def all(self) -> CandidatePairs:
        return self.rows(np.arange(len(self.a), dtype=np.int64))


def blocked_candidate_pairs(
    a: Encodings,
    a_keys: BlockingKeys,
    b: Encodings,
    b_keys: BlockingKeys,
    threshold: float,
    *,
    threads: int | None = None,
) -> CandidatePairs:
    """All pairs sharing a key with Dice >= threshold, in canonical order (one shot)."""
    return BlockedJoin(a, a_keys, b, b_keys, threshold, threads=threads).all()
