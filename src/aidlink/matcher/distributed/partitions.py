"""How a dataset is cut into shards and which query rows each shard must see.

Rows are sorted by popcount (number of set bits) and cut into contiguous runs, so
each shard covers a narrow popcount range. A query row whose popcount window (the B
popcounts that can still reach the threshold, see :mod:`matcher.similarity.bounds`)
misses a shard's range cannot have a pair there and is not sent to it. The kernel
itself scores a pair from the two encodings alone, so the union of the shards'
pairs is exactly the whole join's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aidlink.matcher.similarity import pack, popcounts
from aidlink.matcher.similarity.bounds import popcount_windows

_POPCOUNT_ROWS = 1 << 18  # rows packed at a time when counting bits (bounds temporary memory)


def check_encodings(encodings: np.ndarray, what: str) -> None:
    """Refuse anything but a 2-D uint8 array of whole 64-bit words per row."""
    if not isinstance(encodings, np.ndarray) or encodings.dtype != np.uint8 or encodings.ndim != 2:
        shape = getattr(encodings, "shape", None)
        dtype = getattr(encodings, "dtype", type(encodings).__name__)
        raise ValueError(f"{what}: expected a 2-D uint8 array of encodings (rows, bytes); got {dtype} {shape}")
    if encodings.shape[1] == 0 or encodings.shape[1] % 8:
        raise ValueError(
            f"{what}: encodings are {encodings.shape[1]} bytes; they must be a non-zero multiple of 8 bytes (64 bits)"
        )


def row_popcounts(encodings: np.ndarray) -> np.ndarray:
    """Set bits per row of a uint8 encoding array (memory-mapped arrays are read in slices)."""
    out = np.empty(len(encodings), dtype=np.int64)
    for start in range(0, len(encodings), _POPCOUNT_ROWS):
        part = np.asarray(encodings[start : start + _POPCOUNT_ROWS])
        out[start : start + len(part)] = popcounts(pack(part)) if len(part) else 0
    return out


@dataclass(frozen=True)
class Shard:
    """One partition: dataset rows ``rows`` (original indices, in shard order)."""

    number: int
    rows: np.ndarray
    low: int  # smallest popcount in the shard
    high: int  # largest popcount in the shard

    def encodings(self, source: np.ndarray) -> np.ndarray:
        """This shard's encodings, copied out of the dataset (a uint8 array, nothing else)."""
        return np.ascontiguousarray(source[self.rows])


@dataclass(frozen=True)
class ShardLayout:
    """A dataset of ``records`` rows of ``width`` bytes cut into popcount-ordered shards."""

    records: int
    width: int
    shards: tuple[Shard, ...]

    @classmethod
    def build(cls, encodings: np.ndarray, partitions: int) -> ShardLayout:
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be a positive integer; got {partitions!r}")
        pop = row_popcounts(encodings)
        order = np.argsort(pop, kind="stable")
        shards = []
        for number, rows in enumerate(r for r in np.array_split(order, min(partitions, len(order))) if len(r)):
            shards.append(Shard(number, rows, int(pop[rows[0]]), int(pop[rows[-1]])))
        return cls(len(encodings), encodings.shape[1], tuple(shards))

    def query_rows(self, query_popcounts: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Per shard, the query rows (sorted indices) that can have a pair in it."""
        everything = np.arange(len(query_popcounts), dtype=np.int64)
        if threshold <= 0:
            # All-zero encodings score 0.0 against everything; every row may pair anywhere.
            return [everything for _ in self.shards]
        low, high = popcount_windows(query_popcounts, self.width * 8, threshold)
        return [everything[(low <= high) & (low <= shard.high) & (high >= shard.low)] for shard in self.shards]


def row_positions(rows: np.ndarray | None, records: int, dataset: str) -> np.ndarray | None:
    """For a row filter, each dataset row's position in ``rows`` (-1: not selected)."""
    if rows is None:
        return None
    rows = np.asarray(rows)
    if rows.ndim != 1 or (len(rows) and not np.issubdtype(rows.dtype, np.integer)):
        raise ValueError(
            f"rows for dataset {dataset!r} must be a 1-D array of row indices; got {rows.dtype} {rows.shape}"
        )
    rows = rows.astype(np.int64, copy=False)
    outside = rows[(rows < 0) | (rows >= records)]
    if len(outside):
        raise ValueError(f"rows for dataset {dataset!r}: row {int(outside[0])} is outside 0..{records - 1}")
    positions = np.full(records, -1, dtype=np.int64)
    positions[rows] = np.arange(len(rows), dtype=np.int64)
    if int((positions >= 0).sum()) != len(rows):
        values, counts = np.unique(rows, return_counts=True)
        raise ValueError(f"rows for dataset {dataset!r}: row {int(values[counts > 1][0])} is given more than once")
    return positions
