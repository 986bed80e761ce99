"""tree.py against a literal transcription of the RFC 9162 definitions, and proof round trips."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aidlink.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    ProofError,
    hash_children,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)


def leaves(n: int, salt: int = 0) -> list[bytes]:
    return [hash_leaf(f"entry {salt} {i}".encode()) for i in range(n)]


# -- RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1, written as in the RFC (over leaf hashes) --


def rfc_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = rfc_k(len(d))
    return hash_children(rfc_mth(d[:k]), rfc_mth(d[k:]))


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = rfc_k(len(d))
    if m < k:
        return rfc_path(m, d[:k]) + [rfc_mth(d[k:])]
    return rfc_path(m - k, d[k:]) + [rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [rfc_mth(d)]
    k = rfc_k(n)
    if m <= k:
        return rfc_subproof(m, d[:k], b) + [rfc_mth(d[k:])]
    return rfc_subproof(m - k, d[k:], False) + [rfc_mth(d[:k])]


# -- agreement with the RFC definitions --


def test_every_root_path_and_proof_matches_rfc_for_small_trees() -> None:
    d = leaves(33)
    tree = MerkleTree(d)
    for n in range(34):
        assert tree.root(n) == rfc_mth(d[:n])
        for m in range(n):
            assert tree.inclusion_proof(m, n) == rfc_path(m, d[:n])
        for m in range(1, n + 1):
            assert tree.consistency_proof(m, n) == rfc_subproof(m, d[:n], True)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_tree_matches_rfc_at_random_sizes(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 300), label="size")
    d = leaves(n, salt=n)
    tree = MerkleTree(d)
    size = data.draw(st.integers(1, n), label="query size")
    m = data.draw(st.integers(0, size - 1), label="index")
    assert tree.root(size) == rfc_mth(d[:size])
    assert tree.inclusion_proof(m, size) == rfc_path(m, d[:size])
    assert tree.consistency_proof(m + 1, size) == rfc_subproof(m + 1, d[:size], True)


def test_root_defaults_to_current_size_and_tracks_compact_range() -> None:
    tree, compact = MerkleTree(), CompactRange()
    for h in leaves(1100):
        tree.append(h)
        compact.append(h)
        assert tree.root() == compact.root()
    assert tree.root() == tree.root(1100) == rfc_mth(leaves(1100))
    assert len(tree) == 1100


# -- round trips and mutations --

TREE = MerkleTree(leaves(600, salt=7))


def flip_bit(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_and_mutations_fail(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, TREE.size), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = TREE.leaf_hash(index), TREE.root(size)
    proof = TREE.inclusion_proof(index, size)
    verify_inclusion(leaf, index, size, proof, root)

    bit = data.draw(st.integers(0, 255), label="bit")
    with pytest.raises(ProofError):
        verify_inclusion(flip_bit(leaf, bit), index, size, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, flip_bit(root, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="mutated hash")
        bad = proof[:at] + [flip_bit(proof[at], bit)] + proof[at + 1 :]
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, bad, root)
        with pytest.raises(ProofError, match="hashes, want"):
            verify_inclusion(leaf, index, size, proof[:-1], root)
    with pytest.raises(ProofError, match="hashes, want"):
        verify_inclusion(leaf, index, size, proof + [root], root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other index")
        with pytest.raises(ProofError):
            verify_inclusion(leaf, other, size, proof, root)
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(leaf, size, size, proof, root)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_consistency_proofs_verify_and_mutations_fail(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, TREE.size), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    root1, root2 = TREE.root(size1), TREE.root(size2)
    proof = TREE.consistency_proof(size1, size2)
    verify_consistency(size1, size2, proof, root1, root2)

    bit = data.draw(st.integers(0, 255), label="bit")
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, flip_bit(root1, bit), root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, flip_bit(root2, bit))
    if size1 == size2:
        assert proof == []
        return
    at = data.draw(st.integers(0, len(proof) - 1), label="mutated hash")
    bad = proof[:at] + [flip_bit(proof[at], bit)] + proof[at + 1 :]
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, bad, root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof[:-1], root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof + [root2], root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root2, root1)
    with pytest.raises(ProofError, match="smaller than size1"):
        verify_consistency(size2, size1, proof, root2, root1)


def test_proof_of_a_different_log_fails() -> None:
    forked = MerkleTree(leaves(600, salt=7)[:300] + leaves(300, salt=8))
    proof = forked.consistency_proof(300, 600)
    verify_consistency(300, 600, proof, TREE.root(300), forked.root(600))
    with pytest.raises(ProofError, match="root2"):
        verify_consistency(300, 600, proof, TREE.root(300), TREE.root(600))


# -- edge cases and messages --


def test_empty_tree() -> None:
    tree = MerkleTree()
    assert tree.size == 0 and tree.root() == tree.root(0) == EMPTY_ROOT
    with pytest.raises(ValueError, match="leaf index 0 is outside the tree of size 0"):
        tree.inclusion_proof(0)


def test_tree_rejects_out_of_range_requests() -> None:
    tree = MerkleTree(leaves(5))
    with pytest.raises(ValueError, match="size 6 is outside the tree, which has 5 leaves"):
        tree.root(6)
    with pytest.raises(ValueError, match="leaf index 3 is outside the tree of size 3"):
        tree.inclusion_proof(3, 3)
    with pytest.raises(ValueError, match="size1 \\(4\\) is larger than size2 \\(2\\)"):
        tree.consistency_proof(4, 2)
    with pytest.raises(ValueError, match="empty tree"):
        tree.consistency_proof(0, 5)
    with pytest.raises(ValueError, match="leaf hash has 4 bytes, want 32"):
        tree.append(b"leaf")
    assert tree.consistency_proof(5) == []


def test_verifier_rejects_short_hashes_with_named_field() -> None:
    tree = MerkleTree(leaves(4))
    proof = tree.inclusion_proof(1)
    with pytest.raises(ProofError, match="leaf hash has 31 bytes, want 32"):
        verify_inclusion(tree.leaf_hash(1)[:31], 1, 4, proof, tree.root())
    with pytest.raises(ProofError, match="inclusion proof hash #1 has 0 bytes"):
        verify_inclusion(tree.leaf_hash(1), 1, 4, [proof[0], b""], tree.root())
    with pytest.raises(ProofError, match="consistency proof hash #0 has 3 bytes"):
        verify_consistency(3, 4, [b"abc", proof[0]], tree.root(3), tree.root())


def test_consistency_from_size_zero_is_rejected_by_convention() -> None:
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 3, [], EMPTY_ROOT, MerkleTree(leaves(3)).root())
