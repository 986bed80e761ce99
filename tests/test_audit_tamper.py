"""Tampering by the operator (who can drop the triggers) is caught by `verify` and named."""

from __future__ import annotations

import json
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidlink.audit.checkpoint import open_checkpoint
from aidlink.audit.entry import AuditEntry, utc_now
from aidlink.audit.log import AuditLog
from aidlink.audit.merkle import ProofError, hash_leaf, verify_consistency
from aidlink.audit.note import NoteVerifier
from aidlink.audit.reader import AuditReader
from aidlink.audit.store import SQLiteAuditStore
from aidlink.audit.verifier_key import VerifierKey
from aidlink.audit.verify import verify_log

ORIGIN = "aidlink.audit/tamper"


@pytest.fixture
def logged(tmp_path):
    """20 entries with checkpoints at sizes 8 and 20; returns (db path, key)."""
    key = Ed25519PrivateKey.generate()
    log = AuditLog(
        SQLiteAuditStore(tmp_path / "audit.sqlite"), signing_key=key, origin=ORIGIN, checkpoint_interval=None
    )
    for i in range(20):
        log.append(
            AuditEntry(
                time=utc_now(),
                method="/aidlink.v1.Matcher/CompareDatasets",
                outcome="allowed" if i % 3 else "refused",
                status="OK",
                department=("mca", "edu", "nhsa")[i % 3],
                purpose="referral",
                counts={"links": i},
            )
        )
        if i == 7:
            log.checkpoint()
    log.close()
    return tmp_path / "audit.sqlite", key


def operator(path, *statements, params=()):
    """The operator edits the database directly, dropping the append-only triggers first."""
    conn = sqlite3.connect(path)
    for trigger in (
        "audit_entries_no_update",
        "audit_entries_no_delete",
        "audit_checkpoints_no_update",
        "audit_checkpoints_no_delete",
    ):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement, values in zip(statements, params or [()] * len(statements)):
        conn.execute(statement, values)
    conn.commit()
    conn.close()


def body(path, seq) -> dict:
    conn = sqlite3.connect(path)
    raw = conn.execute("SELECT body FROM audit_entries WHERE seq = ?", (seq,)).fetchone()[0]
    conn.close()
    return json.loads(raw)


def canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify(path, key):
    store = SQLiteAuditStore(path, read_only=True)
    try:
        return verify_log(store, [VerifierKey(key.public_key())])
    finally:
        store.close()


def test_untouched_log_verifies(logged):
    result = verify(*logged)
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints, result.signatures_checked) == (20, 2, True)


def test_changed_body_is_named(logged):
    path, key = logged
    changed = body(path, 11)
    changed["outcome"] = "allowed"
    changed["counts"] = {"links": 0}
    operator(path, "UPDATE audit_entries SET body = ? WHERE seq = 11", params=[(canonical(changed),)])
    result = verify(path, key)
    assert not result.ok
    assert result.first_bad_seq == 11
    assert "entry 11 was changed" in result.problems[0].message
    assert "an entry in 8..19" in result.problems[1].message  # checkpoint #2 no longer matches either


def test_changed_body_with_recomputed_leaf_hash_is_caught_by_the_checkpoints(logged):
    path, key = logged
    changed = body(path, 3)
    changed["department"] = "edu"
    raw = canonical(changed)
    operator(
        path,
        "UPDATE audit_entries SET body = ?, leaf_hash = ?, department = 'edu' WHERE seq = 3",
        params=[(raw, hash_leaf(raw))],
    )
    result = verify(path, key)
    assert not result.ok
    messages = " | ".join(p.message for p in result.problems)
    assert "do not match checkpoint #1" in messages and "do not match checkpoint #2" in messages
    assert result.first_bad_seq == 0  # only narrowed to the first checkpoint's range 0..7


def test_edited_filter_column_is_named(logged):
    path, key = logged
    operator(path, "UPDATE audit_entries SET department = 'union' WHERE seq = 5")
    result = verify(path, key)
    assert result.first_bad_seq == 5
    assert "department='union'" in result.problems[0].message


def test_deleted_entry_is_named(logged):
    path, key = logged
    operator(path, "DELETE FROM audit_entries WHERE seq = 13")
    result = verify(path, key)
    assert result.first_bad_seq == 13
    assert "entry 13 is missing" in result.problems[0].message


def test_reordered_entries_are_named(logged):
    path, key = logged
    conn = sqlite3.connect(path)
    rows = {
        seq: (b, h)
        for seq, b, h in conn.execute("SELECT seq, body, leaf_hash FROM audit_entries WHERE seq IN (15, 17)")
    }
    conn.close()
    # Swap whole rows (bodies with their leaf hashes): every leaf hash still matches its body.
    operator(
        path,
        "UPDATE audit_entries SET body = ?, leaf_hash = ? WHERE seq = 15",
        "UPDATE audit_entries SET body = ?, leaf_hash = ? WHERE seq = 17",
        params=[rows[17], rows[15]],
    )
    result = verify(path, key)
    assert result.first_bad_seq == 15
    assert "entry 15 records position 17" in result.problems[0].message


def test_truncated_log_is_named(logged):
    path, key = logged
    operator(path, "DELETE FROM audit_entries WHERE seq >= 16")
    result = verify(path, key)
    assert result.first_bad_seq == 16
    assert any("truncated; entries 16..19 are missing" in p.message for p in result.problems)


def test_truncation_with_checkpoints_removed_is_caught_by_a_kept_checkpoint(logged):
    path, key = logged
    store = SQLiteAuditStore(path, read_only=True)
    kept = store.latest_checkpoint().note  # the officer saved this at the last review
    store.close()
    operator(path, "DELETE FROM audit_entries WHERE seq >= 10", "DELETE FROM audit_checkpoints WHERE number = 2")
    store = SQLiteAuditStore(path, read_only=True)
    assert verify_log(store, [VerifierKey(key.public_key())]).ok  # what remains is self-consistent
    result = verify_log(store, [VerifierKey(key.public_key())], [kept])
    store.close()
    assert result.first_bad_seq == 10
    assert "kept checkpoint 1 (size 20) commits to 20 entries but only 10 are stored" in result.problems[0].message


def test_forged_checkpoint_signature_is_rejected(logged):
    path, key = logged
    forged = AuditLog(
        SQLiteAuditStore(path.parent / "other.sqlite"),
        signing_key=Ed25519PrivateKey.generate(),
        origin=ORIGIN,
        checkpoint_interval=None,
    )
    note = forged.checkpoint()
    forged.close()
    operator(
        path,
        "INSERT INTO audit_checkpoints (number, time, size, root, note) VALUES (3, 'x', 0, ?, ?)",
        params=[(bytes(32), note)],
    )
    result = verify(path, key)
    assert any("checkpoint #3" in p.message and "not signed by the audit key" in p.message for p in result.problems)


def test_old_checkpoint_and_consistency_proof_catch_a_rewritten_history(logged):
    path, key = logged
    verifier = NoteVerifier.from_public_key(ORIGIN, key.public_key())
    store = SQLiteAuditStore(path, read_only=True)
    old_note = store.checkpoints()[0].note  # size 8, kept by the officer
    store.close()
    old = open_checkpoint(old_note, verifier, ORIGIN)

    # The operator (who also holds the signing key) rewrites entry 3 everywhere and re-signs.
    rewritten = body(path, 3)
    assert rewritten["outcome"] == "refused"
    rewritten["outcome"] = "allowed"
    raw = canonical(rewritten)
    operator(
        path,
        "UPDATE audit_entries SET body = ?, leaf_hash = ?, outcome = 'allowed' WHERE seq = 3",
        "DELETE FROM audit_checkpoints",
        params=[(raw, hash_leaf(raw)), ()],
    )
    log = AuditLog(SQLiteAuditStore(path), signing_key=key, origin=ORIGIN, checkpoint_interval=None)
    new = open_checkpoint(log.checkpoint(), verifier, ORIGIN)
    log.close()
    assert verify(path, key).ok  # the rewritten log is self-consistent and validly signed ...

    store = SQLiteAuditStore(path, read_only=True)
    proof = AuditReader(store).consistency(old.size, new.size)
    with pytest.raises(ProofError):  # ... but not consistent with what the officer saw before
        verify_consistency(old.size, new.size, list(proof.hashes), old.root, new.root)
    result = verify_log(store, [VerifierKey(key.public_key())], [old_note])
    store.close()
    assert any("history was rewritten" in p.message for p in result.problems)
