"""Compact range over leaves [0, size): the roots of the perfect subtrees that cover it.

Holds at most log2(size) + 1 hashes, so the root of a growing log costs O(log n)
per append and per root, without keeping any leaf. Mirrors the idea of
transparency-dev/merkle's compact.Range for ranges that start at leaf 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aidlink.audit.merkle.hasher import EMPTY_ROOT, HASH_SIZE, hash_children


class CompactRange:
    """Perfect-subtree roots covering leaves [0, size), largest (leftmost) first."""

    __slots__ = ("_size", "_hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"compact range size must not be negative, got {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"compact range of size {size} needs {size.bit_count()} hashes "
                f"(one per set bit of the size), got {len(hashes)}"
            )
        for i, h in enumerate(hashes):
            if len(h) != HASH_SIZE:
                raise ValueError(f"compact range hash #{i} has {len(h)} bytes, want {HASH_SIZE}")
        self._size = size
        self._hashes: list[bytes] = [bytes(h) for h in hashes]

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Subtree roots, largest first; subtree i covers 2**(bit i from the top) leaves."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf (by its leaf hash) and merge completed subtrees."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash has {len(leaf_hash)} bytes, want {HASH_SIZE}")
        h = bytes(leaf_hash)
        size = self._size
        while size & 1:  # each trailing 1 bit of the old size is a subtree to merge with
            h = hash_children(self._hashes.pop(), h)
            size >>= 1
        self._hashes.append(h)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaves in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH of leaves [0, size); EMPTY_ROOT when size is 0."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            r = hash_children(left, r)
        return r

    def copy(self) -> CompactRange:
        """An independent copy."""
        return CompactRange(self._size, self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
