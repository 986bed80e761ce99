"""Every language-neutral proof vector of transparency-dev/merkle: happy cases verify, wantErr cases fail.

Vectors live in tests/vectors/merkle/{inclusion,consistency}/**.json, committed unchanged from
transparency-dev/merkle (see SOURCE.md there); $AIDLINK_TESTVECTORS points the test at another copy
(the folder that holds ``merkle/``). A missing folder fails the test rather than skipping it.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from aidlink.audit.merkle import (
    MerkleTree,
    ProofError,
    hash_leaf,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)


def _vector_root() -> Path:
    env = os.environ.get("AIDLINK_TESTVECTORS")
    base = Path(env) if env else Path(__file__).resolve().parent / "vectors"
    return base / "merkle"


VECTORS = _vector_root()
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))
MISSING = f"Merkle test vectors not found at {VECTORS} (set AIDLINK_TESTVECTORS to the testvectors folder)"

# The reference tree the happy-path vectors were generated from (transparency-dev/merkle testonly).
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]


def _case_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]  # Go writes an empty proof as null


def test_vector_folder_is_complete() -> None:
    assert VECTORS.is_dir(), MISSING
    assert len(INCLUSION) >= 50 and len(CONSISTENCY) >= 50  # 98 each in the copy of commit 417fb0c
    cases = [_load(p) for p in INCLUSION + CONSISTENCY]
    assert any(c["wantErr"] for c in cases) and any(not c["wantErr"] for c in cases)


@pytest.mark.parametrize("path", INCLUSION, ids=_case_id)
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], _proof(case), _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)
        assert root_from_inclusion_proof(*args[:4]) == args[4]


@pytest.mark.parametrize("path", CONSISTENCY, ids=_case_id)
def test_consistency_vector(path: Path) -> None:
    case = _load(path)
    args = (case["size1"], case["size2"], _proof(case), _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


HAPPY = [p for p in INCLUSION + CONSISTENCY if p.name == "happy-path.json"]


@pytest.mark.parametrize("path", HAPPY, ids=_case_id)
def test_tree_reproduces_happy_path_proofs(path: Path) -> None:
    """tree.py generates byte-for-byte the proofs in the vectors for the reference tree."""
    case = _load(path)
    tree = MerkleTree(hash_leaf(d) for d in REFERENCE_LEAVES)
    if "leafIdx" in case:
        assert tree.root(case["treeSize"]) == _b64(case["root"])
        assert tree.leaf_hash(case["leafIdx"]) == _b64(case["leafHash"])
        assert tree.inclusion_proof(case["leafIdx"], case["treeSize"]) == _proof(case)
    else:
        assert tree.root(case["size1"]) == _b64(case["root1"])
        assert tree.root(case["size2"]) == _b64(case["root2"])
        assert tree.consistency_proof(case["size1"], case["size2"]) == _proof(case)
