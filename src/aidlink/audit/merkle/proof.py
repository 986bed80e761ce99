"""Verification of RFC 9162 inclusion (§2.1.3.2) and consistency (§2.1.4.2) proofs.

The loops follow the RFC's algorithms step by step. Edge cases follow
transparency-dev/merkle's proof/verify.go and its language-neutral test vectors:
the leaf hash and every proof hash must be HASH_SIZE bytes; a consistency proof
between equal sizes must be empty and the roots equal; a consistency proof from
size 0 is rejected (the empty tree is a prefix of every tree, so such a proof
proves nothing; callers treat size 0 as trivially consistent themselves).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aidlink.audit.merkle.hasher import HASH_SIZE, hash_children


class ProofError(ValueError):
    """An inclusion or consistency proof does not verify."""


def _check_hash(what: str, value: bytes) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ProofError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} has {len(value)} bytes, want {HASH_SIZE}")


def _check_proof_hashes(kind: str, proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(f"{kind} proof hash #{i}", h)


def _check_size(what: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{what} must not be negative, got {value}")


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(bytes(a), bytes(b))


def inclusion_proof_length(index: int, size: int) -> int:
    """Number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(size1: int, size2: int) -> int:
    """Number of hashes in the consistency proof between sizes 0 < size1 < size2."""
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    seeded = 0 if size1 == 1 << shift else 1
    return seeded + (inner - shift) + border


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Root of the tree of `size` leaves implied by `proof` for leaf `index` (RFC 9162 §2.1.3.2)."""
    _check_size("leaf index", index)
    _check_size("tree size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _check_hash("leaf hash", leaf_hash)
    _check_proof_hashes("inclusion", proof)
    want = inclusion_proof_length(index, size)
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree of size {size} has {len(proof)} hashes, want {want}"
        )

    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while fn and not fn & 1:  # reached via fn == sn: climb the right border
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that leaf `leaf_hash` is at `index` in the tree of `size` leaves with `root`.

    Raises ProofError on any failure.
    """
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if not _same(calculated, root):
        raise ProofError(
            f"inclusion proof for leaf {index} gives root {calculated.hex()}, "
            f"not the expected root {bytes(root).hex()} of tree size {size}"
        )


def root_from_consistency_proof(size1: int, size2: int, proof: Sequence[bytes], root1: bytes) -> bytes:
    """Root of the tree of `size2` leaves implied by `proof` and the tree of `size1` with `root1`.

    Checks that the proof reproduces `root1` on the way (RFC 9162 §2.1.4.2).
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree (size1 = 0) is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError(f"sizes are equal ({size1}) but the consistency proof has {len(proof)} hashes, want 0")
        return bytes(root1)
    if not proof:
        raise ProofError(f"consistency proof from size {size1} to {size2} is empty")
    _check_proof_hashes("consistency", proof)
    want = consistency_proof_length(size1, size2)
    if len(proof) != want:
        raise ProofError(f"consistency proof from size {size1} to {size2} has {len(proof)} hashes, want {want}")

    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is an exact power of 2
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while fn and not fn & 1:  # reached via fn == sn: climb the right border
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if not _same(fr, root1):
        raise ProofError(
            f"consistency proof gives root {fr.hex()} for size {size1}, not the expected root1 {bytes(root1).hex()}"
        )
    return sr


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of `size1` leaves with `root1` is a prefix of the tree of `size2` with `root2`.

    Raises ProofError on any failure.
    """
    calculated = root_from_consistency_proof(size1, size2, proof, root1)
    if not _same(calculated, root2):
        raise ProofError(
            f"consistency proof gives root {calculated.hex()} for size {size2}, "
            f"not the expected root2 {bytes(root2).hex()}"
        )
