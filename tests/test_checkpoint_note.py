"""Signed notes: known answers from golang.org/x/mod/sumdb/note and sum.golang.org, and tampering."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidlink.audit.note import (
    MalformedNoteError,
    NoteSignatureError,
    NoteSigner,
    NoteVerifier,
    key_hash,
    open_note,
    sign_note,
)

# From golang.org/x/mod/sumdb/note/note_test.go.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
).encode()


def peter_private_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]
    return Ed25519PrivateKey.from_private_bytes(seed)


def test_sign_reproduces_go_output_byte_for_byte() -> None:
    assert sign_note(TEXT, "PeterNeumann", peter_private_key()) == TEXT + b"\n" + PETER_SIG


def test_key_strings_round_trip_and_agree_with_go() -> None:
    signer = NoteSigner.parse(PETER_SKEY)
    verifier = NoteVerifier.parse(PETER_VKEY)
    assert signer.key_hash == verifier.key_hash == 0xC74F20A3
    assert signer.verifier() == verifier
    assert verifier.vkey() == PETER_VKEY
    public = peter_private_key().public_key()
    assert NoteVerifier.from_public_key("PeterNeumann", public).vkey() == PETER_VKEY
    assert key_hash("PeterNeumann", public) == 0xC74F20A3


def test_open_go_note_with_cosignature() -> None:
    note = TEXT + b"\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, NoteVerifier.parse(PETER_VKEY)) == TEXT
    assert open_note(note, NoteVerifier.parse(ENOCH_VKEY)) == TEXT


def test_open_rejects_invalid_signature_from_go_test() -> None:
    bad = TEXT + b"\n" + PETER_SIG[:60] + b"ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteSignatureError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(bad, NoteVerifier.parse(PETER_VKEY))


def test_open_requires_the_verifiers_signature() -> None:
    with pytest.raises(NoteSignatureError, match="no signature by key EnochRoot\\+af0cfe78"):
        open_note(TEXT + b"\n" + PETER_SIG, NoteVerifier.parse(ENOCH_VKEY))


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + b"\n",
        TEXT + b"\n" + PETER_SIG[:-1],
        b"\x01" + TEXT + b"\n" + PETER_SIG,
        b"\xff" + TEXT + b"\n" + PETER_SIG,
        TEXT
        + b"\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n".encode(),
        TEXT + b"\n" + PETER_SIG + b"Unexpected line.\n",
        TEXT + b"\n" + PETER_SIG * 101,
    ],
    ids=["no-sigs", "blank-only", "no-final-newline", "control-char", "bad-utf8", "bad-name", "extra-line", "too-many"],
)
def test_open_rejects_malformed_notes_from_go_test(note: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(note, NoteVerifier.parse(PETER_VKEY))


@pytest.mark.parametrize(
    "vkey",
    [
        PETER_VKEY[:-1],
        PETER_VKEY[1:],
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
    ],
)
def test_verifier_key_manglings_are_rejected(vkey: str) -> None:
    with pytest.raises(MalformedNoteError):
        NoteVerifier.parse(vkey)


def test_every_single_character_change_of_a_verifier_key_is_rejected() -> None:
    for i, c in enumerate(PETER_VKEY):
        changed = PETER_VKEY[:i] + chr(ord(c) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(MalformedNoteError):
            NoteVerifier.parse(changed)


def test_real_sum_golang_org_key_with_plus_in_base64() -> None:
    vkey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
    assert NoteVerifier.parse(vkey).vkey() == vkey


def test_round_trip_and_tampering_with_fresh_key() -> None:
    key = Ed25519PrivateKey.generate()
    text = "部门 audit log\n42\n".encode()
    note = sign_note(text, "aidlink.example/audit", key)
    verifier = NoteVerifier.from_public_key("aidlink.example/audit", key.public_key())
    assert open_note(note, verifier) == text

    with pytest.raises(NoteSignatureError, match="invalid signature"):
        open_note(note.replace(b"42", b"43"), verifier)
    body, sig_line = note.rsplit(b" ", 1)
    blob = bytearray(base64.b64decode(sig_line))
    blob[10] ^= 1
    with pytest.raises(NoteSignatureError, match="invalid signature"):
        open_note(body + b" " + base64.b64encode(bytes(blob)) + b"\n", verifier)
    other = NoteVerifier.from_public_key("aidlink.example/audit", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteSignatureError, match="no signature by key"):
        open_note(note, other)


def test_sign_rejects_bad_text_and_names() -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(MalformedNoteError, match="end with a newline"):
        sign_note(b"abc", "name", key)
    with pytest.raises(MalformedNoteError, match="not a valid key name"):
        sign_note(b"abc\n", "a+b", key)
