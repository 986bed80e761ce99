"""RFC 9162 Merkle tree: hashing, append-only tree, compact range, proof verification."""

from aidlink.audit.merkle.compact import CompactRange
from aidlink.audit.merkle.hasher import EMPTY_ROOT, HASH_SIZE, hash_children, hash_leaf
from aidlink.audit.merkle.proof import (
    ProofError,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from aidlink.audit.merkle.tree import MerkleTree

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleTree",
    "ProofError",
    "hash_children",
    "hash_leaf",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]
