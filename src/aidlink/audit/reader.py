"""Read side of the log for officers: entries, checkpoints and proofs from the store.

The tree is rebuilt from the stored leaf hashes and extended as the log grows,
so proofs served by the matcher process or the CLI cost O(log n) after the
first. Proof hashes are base64, as the root in a checkpoint is.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass

from aidlink.audit.log import unverified_checkpoint
from aidlink.audit.merkle import MerkleTree
from aidlink.audit.store import SQLAuditStore, StoredCheckpoint


class ProofRequestError(ValueError):
    """A proof was asked for entries or sizes the log does not have."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    root: bytes
    checkpoint: bytes | None  # the stored signed checkpoint for `size`, if one was issued

    def to_json(self) -> dict[str, object]:
        return {
            "type": "inclusion",
            "seq": self.seq,
            "tree_size": self.size,
            "leaf_hash": b64(self.leaf_hash),
            "proof": [b64(h) for h in self.hashes],
            "root": b64(self.root),
            "checkpoint": self.checkpoint.decode() if self.checkpoint else None,
        }


@dataclass(frozen=True)
class ConsistencyProof:
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    hashes: tuple[bytes, ...]
    checkpoint1: bytes | None
    checkpoint2: bytes | None

    def to_json(self) -> dict[str, object]:
        return {
            "type": "consistency",
            "size1": self.size1,
            "size2": self.size2,
            "root1": b64(self.root1),
            "root2": b64(self.root2),
            "proof": [b64(h) for h in self.hashes],
            "checkpoint1": self.checkpoint1.decode() if self.checkpoint1 else None,
            "checkpoint2": self.checkpoint2.decode() if self.checkpoint2 else None,
        }


class AuditReader:
    """Queries and proofs over a store another process (or an AuditLog) writes."""

    def __init__(self, store: SQLAuditStore) -> None:
        self.store = store
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    def tree(self) -> MerkleTree:
        """The tree of every stored entry (from stored leaf hashes), brought up to date."""
        with self._lock:
            for seq, leaf in self.store.leaf_hashes(self._tree.size):
                if seq != self._tree.size:
                    raise ProofRequestError(
                        f"audit store has no entry {self._tree.size} (next stored is {seq}); run `aidlink audit verify`"
                    )
                self._tree.append(leaf)
            return self._tree

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.store.latest_checkpoint()

    def origin(self) -> str | None:
        latest = self.store.latest_checkpoint()
        return unverified_checkpoint(latest.note).origin if latest else None

    def _default_size(self, tree: MerkleTree, at_least: int) -> int:
        latest = self.store.latest_checkpoint()
        if latest is not None and at_least <= latest.size <= tree.size:
            return latest.size
        return tree.size

    def inclusion(self, seq: int, size: int | None = None) -> InclusionProof:
        """Proof that entry `seq` is in the tree of `size` entries (default: the newest
        checkpoint's size when it covers the entry, else the whole log)."""
        tree = self.tree()
        if size is None:
            size = self._default_size(tree, seq + 1)
        if not 0 <= seq < size:
            raise ProofRequestError(f"entry {seq} is not in a tree of {size} entries")
        if size > tree.size:
            raise ProofRequestError(f"the log has {tree.size} entries, not {size}")
        with self._lock:
            hashes = tree.inclusion_proof(seq, size)
            leaf, root = tree.leaf_hash(seq), tree.root(size)
        cp = self.store.checkpoint_of_size(size)
        return InclusionProof(seq, size, leaf, tuple(hashes), root, cp.note if cp else None)

    def consistency(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """Proof that the tree of `size1` entries is a prefix of the tree of `size2`
        (default: the newest checkpoint's size)."""
        tree = self.tree()
        if size2 is None:
            size2 = self._default_size(tree, size1)
        if not 0 < size1 <= size2:
            raise ProofRequestError(f"a consistency proof needs 0 < size1 <= size2, got {size1} and {size2}")
        if size2 > tree.size:
            raise ProofRequestError(f"the log has {tree.size} entries, not {size2}")
        with self._lock:
            hashes = tree.consistency_proof(size1, size2)
            root1, root2 = tree.root(size1), tree.root(size2)
        cp1, cp2 = self.store.checkpoint_of_size(size1), self.store.checkpoint_of_size(size2)
        return ConsistencyProof(
            size1, size2, root1, root2, tuple(hashes), cp1.note if cp1 else None, cp2.note if cp2 else None
        )
