"""RFC 9162 (and RFC 6962) tree hashing with SHA-256.

Leaves and interior nodes are hashed under distinct one-byte prefixes so that a
leaf can never be passed off as a node (second-preimage resistance, RFC 9162 §2.1.1).
"""

from __future__ import annotations

import hashlib

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = HASH(): the root of the tree with no leaves."""


def hash_leaf(data: bytes) -> bytes:
    """MTH({d}) = HASH(0x00 || d): the hash of one leaf's data."""
    return hashlib.sha256(LEAF_PREFIX + bytes(data)).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + bytes(left) + bytes(right)).digest()
