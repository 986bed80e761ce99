"""How a blocked join is cut into key partitions, and which partition owns a pair.

Every blocking key (a keyed token's first 8 bytes or an LSH band key: 64 uniform bits)
belongs to partition ``key % P``. A record is sent to each partition that holds one of
its keys, with its encoding and only that partition's keys; there it pairs with the
other side's records sharing one of those keys (each pair once per partition). The
partition of a pair's *smallest* shared key owns it: that is the key under which the
in-process join (:mod:`matcher.similarity.blocking`) scores it, so keeping each pair
only from its owner gives exactly the in-process pairs, each once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aidlink.matcher.similarity.blocking import NO_KEY

_OWNER_PAIRS = 1 << 14  # pairs compared at a time when finding owners (bounds temporary memory)


def key_partitions(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of every key of a ``(records, width)`` uint64 key array (-1: padding)."""
    out = (keys % np.uint64(partitions)).astype(np.int64)
    out[keys == NO_KEY] = -1
    return out


def rows_by_partition(keys: np.ndarray, partitions: int) -> list[np.ndarray]:
    """Per partition, the rows (ascending) holding at least one key in it."""
    part = key_partitions(keys, partitions)
    rows, cols = np.nonzero(part >= 0)
    records = max(len(keys), 1)
    codes = np.sort(part[rows, cols] * records + rows)  # by partition, then row
    # Sorting and dropping repeats: numpy's np.unique hashes first, ~5x slower here.
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes
    bounds = np.searchsorted(codes, np.arange(partitions + 1, dtype=np.int64) * records)
    return [codes[bounds[p] : bounds[p + 1]] - p * records for p in range(partitions)]


def partition_keys(keys: np.ndarray, number: int, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys of ``keys`` (already the partition's rows) that lie in partition ``number``,
    ragged: per row their count (uint16), and all of them in row order (uint64)."""
    inside = key_partitions(keys, partitions) == number
    return inside.sum(axis=1).astype(np.uint16), np.ascontiguousarray(keys[inside])


def owning_partitions(a_keys: np.ndarray, b_keys: np.ndarray, partitions: int) -> np.ndarray:
    """Per pair (row ``i`` of ``a_keys`` with row ``i`` of ``b_keys``), the partition of the
    smallest key both rows hold (-1: none shared)."""
    out = np.empty(len(a_keys), dtype=np.int64)
    for start in range(0, len(a_keys), _OWNER_PAIRS):
        x, y = a_keys[start : start + _OWNER_PAIRS], b_keys[start : start + _OWNER_PAIRS]
        shared = (x[:, :, None] == y[:, None, :]).any(axis=2) & (x != NO_KEY)
        smallest = np.where(shared, x, NO_KEY).min(axis=1)
        out[start : start + len(x)] = key_partitions(smallest[:, None], partitions)[:, 0]
    return out


@dataclass(frozen=True)
class KeyPartition:
    """Partition ``number``: the A and B rows (original indices) holding one of its keys."""

    number: int
    a_rows: np.ndarray
    b_rows: np.ndarray

    def payload(
        self, a: np.ndarray, a_keys: np.ndarray, b: np.ndarray, b_keys: np.ndarray, partitions: int
    ) -> list[np.ndarray]:
        """What its worker receives, per side: the uint8 encodings, and their keys in this
        partition (uint16 count per row, uint64 keys): six arrays, nothing else."""
        return [
            np.ascontiguousarray(a[self.a_rows]),
            *partition_keys(a_keys[self.a_rows], self.number, partitions),
            np.ascontiguousarray(b[self.b_rows]),
            *partition_keys(b_keys[self.b_rows], self.number, partitions),
        ]

    def tagged_payload(
        self,
        a: np.ndarray,
        a_keys: np.ndarray,
        a_kept: np.ndarray,
        b: np.ndarray,
        b_keys: np.ndarray,
        b_kept: np.ndarray,
        partitions: int,
    ) -> list[np.ndarray]:
        """A missing-aware partition's payload (``matcher.missing_aware.VersionKeys`` per side):
        per side the uint8 encodings, their keys in this partition (uint16 count per row, uint64
        keys) and each key's version tag (uint8): eight arrays."""
        out: list[np.ndarray] = []
        for x, keys, kept, rows in ((a, a_keys, a_kept, self.a_rows), (b, b_keys, b_kept, self.b_rows)):
            inside = key_partitions(keys[rows], partitions) == self.number
            out += [
                np.ascontiguousarray(x[rows]),
                inside.sum(axis=1).astype(np.uint16),
                np.ascontiguousarray(keys[rows][inside]),
                np.ascontiguousarray(kept[rows][inside]),
            ]
        return out


def dense(counts: np.ndarray, values: np.ndarray, fill) -> np.ndarray:
    """Ragged values (a count per row, then the rows' values in order) as a padded
    ``(rows, max count)`` array, each row's values first, in order."""
    counts = np.asarray(counts, dtype=np.int64)
    if int(counts.sum()) != len(values):
        raise ValueError(f"counts add up to {int(counts.sum())} but {len(values)} values were given")
    out = np.full((len(counts), max(int(counts.max()) if len(counts) else 0, 1)), fill, dtype=values.dtype)
    if len(values):
        rows = np.repeat(np.arange(len(counts)), counts)
        starts = np.cumsum(counts) - counts
        out[rows, np.arange(len(values)) - np.repeat(starts, counts)] = values
    return out


def plan_partitions(a_keys: np.ndarray, b_keys: np.ndarray, partitions: int) -> list[KeyPartition]:
    """The partitions where both sides have records (the others cannot yield a pair)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be a positive integer; got {partitions!r}")
    a_rows, b_rows = rows_by_partition(a_keys, partitions), rows_by_partition(b_keys, partitions)
    return [KeyPartition(p, a_rows[p], b_rows[p]) for p in range(partitions) if len(a_rows[p]) and len(b_rows[p])]
