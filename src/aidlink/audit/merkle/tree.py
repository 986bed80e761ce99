"""Append-only in-memory Merkle tree over leaf hashes (RFC 9162 §2.1).

Every complete (perfect) subtree hash is stored, level by level, in flat
bytearrays of 32-byte hashes (about 2 × 32 bytes per leaf). Appending costs O(1)
hashes amortised; MTH of any prefix, inclusion proofs (PATH, §2.1.3.1) and
consistency proofs (PROOF, §2.1.4.1) cost O(log n) hashes, since every left
subtree that the RFC recursion asks for is perfect and read from storage.
Not thread-safe: callers serialise appends (reads may run between appends).
"""

from __future__ import annotations

from collections.abc import Iterable

from aidlink.audit.merkle.hasher import EMPTY_ROOT, HASH_SIZE, hash_children


def _split(n: int) -> int:
    """Largest power of two strictly below n (n > 1): the RFC's k."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Append-only tree of leaf hashes, answering roots and proofs for any size up to the current one."""

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        # _levels[k] holds the hashes of the perfect subtrees of 2**k leaves, in order.
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0]) // HASH_SIZE

    def __len__(self) -> int:
        return self.size

    def append(self, leaf_hash: bytes) -> int:
        """Add a leaf by its leaf hash (see hasher.hash_leaf); returns its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash has {len(leaf_hash)} bytes, want {HASH_SIZE}")
        index = self.size
        h = bytes(leaf_hash)
        level, pos = 0, index
        self._levels[0] += h
        while pos & 1:  # this node completes a pair: store the parent one level up
            left = self._node(level, pos - 1)
            h = hash_children(left, h)
            level += 1
            pos >>= 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += h
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes in order."""
        for h in leaf_hashes:
            self.append(h)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash stored at `index`."""
        self._check_index(index, self.size)
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all); EMPTY_ROOT for size 0."""
        size = self.size if size is None else size
        self._check_size("size", size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]): audit path for leaf `index` in the tree of `size` leaves."""
        size = self.size if size is None else size
        self._check_size("size", size)
        self._check_index(index, size)
        proof: list[bytes] = []
        self._path(index, 0, size, proof)
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(size1, D[0:size2]): proof that the tree of `size1` leaves is a prefix of the one of `size2`.

        Empty when size1 == size2. size1 must be at least 1: a proof from the empty
        tree is meaningless and verifiers reject it.
        """
        size2 = self.size if size2 is None else size2
        self._check_size("size2", size2)
        self._check_size("size1", size1)
        if size1 > size2:
            raise ValueError(f"size1 ({size1}) is larger than size2 ({size2})")
        if size1 == 0:
            raise ValueError("no consistency proof from the empty tree (size1 = 0): it would prove nothing")
        proof: list[bytes] = []
        self._subproof(size1, 0, size2, True, proof)
        return proof

    # -- internals --------------------------------------------------------

    def _node(self, level: int, pos: int) -> bytes:
        start = pos * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _range_hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range that the RFC recursion produces (lo aligned to the range's split)."""
        n = hi - lo
        if n & (n - 1) == 0:  # perfect subtree: stored
            return self._node(n.bit_length() - 1, lo // n)
        k = _split(n)
        # The right part's hash folds the perfect subtrees of the remaining range.
        return hash_children(self._node(k.bit_length() - 1, lo // k), self._range_hash(lo + k, hi))

    def _path(self, m: int, lo: int, hi: int, proof: list[bytes]) -> None:
        n = hi - lo
        if n == 1:
            return
        k = _split(n)
        if m < k:
            self._path(m, lo, lo + k, proof)
            proof.append(self._range_hash(lo + k, hi))
        else:
            self._path(m - k, lo + k, hi, proof)
            proof.append(self._range_hash(lo, lo + k))

    def _subproof(self, m: int, lo: int, hi: int, whole: bool, proof: list[bytes]) -> None:
        n = hi - lo
        if m == n:
            if not whole:
                proof.append(self._range_hash(lo, hi))
            return
        k = _split(n)
        if m <= k:
            self._subproof(m, lo, lo + k, whole, proof)
            proof.append(self._range_hash(lo + k, hi))
        else:
            self._subproof(m - k, lo + k, hi, False, proof)
            proof.append(self._range_hash(lo, lo + k))

    def _check_size(self, what: str, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"{what} must be an int, got {type(size).__name__}")
        if not 0 <= size <= self.size:
            raise ValueError(f"{what} {size} is outside the tree, which has {self.size} leaves")

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"leaf index must be an int, got {type(index).__name__}")
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside the tree of size {size}")
