"""Checkpoint bodies, signed checkpoints, and the signer that refuses to contradict itself."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidlink.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointSigner,
    InconsistentCheckpointError,
    open_checkpoint,
    sign_checkpoint,
)
from aidlink.audit.merkle import EMPTY_ROOT, MerkleTree, hash_leaf
from aidlink.audit.note import MalformedNoteError, NoteSignatureError, NoteVerifier, sign_note

ORIGIN = "aidlink.example/audit"
ROOT = bytes(range(32))

# A real signed tree head of the Go checksum database (itself a C2SP checkpoint).
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n"
    "— sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n"
).encode()


def test_body_layout() -> None:
    cp = Checkpoint(ORIGIN, 12, ROOT, ("Timestamp: 1700000000",))
    b64 = base64.b64encode(ROOT).decode()
    assert cp.body() == f"{ORIGIN}\n12\n{b64}\nTimestamp: 1700000000\n".encode()
    assert Checkpoint.parse(cp.body()) == cp
    assert Checkpoint.parse(Checkpoint(ORIGIN, 0, EMPTY_ROOT).body()).size == 0


def test_open_real_sum_golang_org_checkpoint() -> None:
    cp = open_checkpoint(SUMDB_NOTE, NoteVerifier.parse(SUMDB_VKEY), origin="go.sum database tree")
    assert cp.size == 31700353
    assert cp.root == base64.b64decode("qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=")
    with pytest.raises(NoteSignatureError):
        open_checkpoint(SUMDB_NOTE.replace(b"31700353", b"31700354"), NoteVerifier.parse(SUMDB_VKEY))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"origin\n12\n", "needs origin, size and root"),
        (b"origin\n12\nAAAA", "end with a newline"),
        (b"\n12\n" + base64.b64encode(ROOT) + b"\n", "origin must be a non-empty"),
        (b"origin\n012\n" + base64.b64encode(ROOT) + b"\n", "without leading zeros"),
        (b"origin\n-1\n" + base64.b64encode(ROOT) + b"\n", "without leading zeros"),
        (b"origin\n\xd9\xa1\n" + base64.b64encode(ROOT) + b"\n", "not a decimal"),
        (b"origin\n12\n" + base64.b64encode(ROOT[:31]) + b"\n", "root must be 32 bytes, got 31"),
        (b"origin\n12\n!!!!\n", "not valid base64"),
        (b"origin\n12\n" + base64.b64encode(ROOT) + b"\n\n", "extension line 1 must be a non-empty"),
        (b"\xffrigin\n12\n" + base64.b64encode(ROOT) + b"\n", "not valid UTF-8"),
    ],
)
def test_parse_rejects_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.parse(body)


def test_constructor_validates_fields() -> None:
    with pytest.raises(CheckpointError, match="newline"):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(CheckpointError, match="non-negative"):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(CheckpointError, match="32 bytes"):
        Checkpoint(ORIGIN, 1, b"short")


def test_sign_and_open_round_trip_and_tampering() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = NoteVerifier.from_public_key(ORIGIN, key.public_key())
    cp = Checkpoint(ORIGIN, 7, ROOT)
    note = sign_checkpoint(cp, ORIGIN, key)
    assert note.startswith(cp.body() + "\n— ".encode())
    assert open_checkpoint(note, verifier, origin=ORIGIN) == cp
    with pytest.raises(CheckpointError, match="expected 'other.example/log'"):
        open_checkpoint(note, verifier, origin="other.example/log")
    with pytest.raises(NoteSignatureError):
        open_checkpoint(note.replace(b"\n7\n", b"\n8\n"), verifier)
    wrong = NoteVerifier.from_public_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteSignatureError, match="no signature by key"):
        open_checkpoint(note, wrong)
    with pytest.raises(MalformedNoteError):
        open_checkpoint(cp.body(), verifier)


def test_signed_body_that_is_not_a_checkpoint_is_rejected() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = NoteVerifier.from_public_key(ORIGIN, key.public_key())
    with pytest.raises(CheckpointError, match="needs origin, size and root"):
        open_checkpoint(sign_note(b"just a note\n", ORIGIN, key), verifier)


# -- CheckpointSigner --


def leaves(n: int, salt: str = "") -> list[bytes]:
    return [hash_leaf(f"call {salt}{i}".encode()) for i in range(n)]


def make_signer(tree: MerkleTree, last: Checkpoint | None = None) -> tuple[CheckpointSigner, NoteVerifier]:
    signer = CheckpointSigner(ORIGIN, ORIGIN, Ed25519PrivateKey.generate(), tree.consistency_proof, last=last)
    return signer, signer.verifier()


def test_signer_signs_a_growing_log() -> None:
    tree = MerkleTree()
    signer, verifier = make_signer(tree)
    assert signer.last is None
    note = signer.sign(0, tree.root())
    assert open_checkpoint(note, verifier).size == 0
    for n in (1, 2, 5, 5, 17):
        tree.extend(leaves(n - tree.size, salt=str(tree.size)))
        cp = open_checkpoint(signer.sign(n, tree.root()), verifier, origin=ORIGIN)
        assert (cp.size, cp.root) == (n, tree.root())
        assert signer.last == cp


def test_signer_refuses_a_smaller_size() -> None:
    tree = MerkleTree(leaves(10))
    signer, _ = make_signer(tree)
    signer.sign(10, tree.root())
    with pytest.raises(InconsistentCheckpointError, match="refusing to sign size 9: already signed a larger size 10"):
        signer.sign(9, tree.root(9))
    assert signer.last is not None and signer.last.size == 10


def test_signer_refuses_a_second_root_for_the_same_size() -> None:
    tree = MerkleTree(leaves(10))
    signer, _ = make_signer(tree)
    signer.sign(10, tree.root())
    with pytest.raises(InconsistentCheckpointError, match="already signed root"):
        signer.sign(10, MerkleTree(leaves(10, salt="x")).root())


def test_signer_refuses_a_rewritten_history() -> None:
    store = {"tree": MerkleTree(leaves(8))}
    signer = CheckpointSigner(
        ORIGIN, ORIGIN, Ed25519PrivateKey.generate(), lambda a, b: store["tree"].consistency_proof(a, b)
    )
    signer.sign(8, store["tree"].root())
    # The log's entries were changed behind the signer's back: the new tree no longer extends the old one.
    rewritten = MerkleTree(leaves(3) + leaves(9, salt="forged"))
    store["tree"] = rewritten
    with pytest.raises(InconsistentCheckpointError, match="not consistent with signed size 8"):
        signer.sign(12, rewritten.root())
    assert signer.last is not None and signer.last.size == 8


def test_signer_refuses_when_no_proof_can_be_made() -> None:
    tree = MerkleTree(leaves(4))
    signer, _ = make_signer(tree)
    signer.sign(4, tree.root())
    with pytest.raises(InconsistentCheckpointError, match="size2 6 is outside the tree"):
        signer.sign(6, bytes(32))


def test_signer_resumes_from_a_stored_checkpoint() -> None:
    tree = MerkleTree(leaves(6))
    first, verifier = make_signer(tree)
    stored = open_checkpoint(first.sign(6, tree.root()), verifier)
    resumed, _ = make_signer(tree, last=stored)
    with pytest.raises(InconsistentCheckpointError):
        resumed.sign(5, tree.root(5))
    tree.extend(leaves(3, salt="more"))
    resumed.sign(9, tree.root())
    with pytest.raises(CheckpointError, match="last checkpoint is for log 'aidlink.example/audit', not 'other'"):
        CheckpointSigner("other", "other", Ed25519PrivateKey.generate(), tree.consistency_proof, last=stored)


def test_signer_refuses_an_empty_tree_with_a_non_empty_root() -> None:
    signer, _ = make_signer(MerkleTree())
    with pytest.raises(InconsistentCheckpointError, match="the empty tree's root is e3b0c442"):
        signer.sign(0, ROOT)
    assert signer.last is None
