"""The audit log: durable group-committed appends, Merkle tree, signed checkpoints, fail-closed."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from aidlink.audit.checkpoint import open_checkpoint
from aidlink.audit.entry import AuditEntry, utc_now
from aidlink.audit.log import AuditError, AuditIntegrityError, AuditLog, AuditUnavailable
from aidlink.audit.merkle import MerkleTree, hash_leaf, verify_consistency
from aidlink.audit.note import NoteVerifier
from aidlink.audit.store import SQLiteAuditStore

ORIGIN = "aidlink.audit/test"


def entry(i: int = 0, department: str = "mca", outcome: str = "allowed") -> AuditEntry:
    return AuditEntry(
        time=utc_now(),
        method="/aidlink.v1.Matcher/QueryStatus",
        outcome=outcome,
        status="OK" if outcome == "allowed" else "PERMISSION_DENIED",
        department=department,
        identity=f"node-{department} serial=1",
        purpose="eligibility-check",
        datasets=("mca/low-income",),
        counts={"i": i},
    )


def open_log(path, key=None, **kw) -> AuditLog:
    return AuditLog(
        SQLiteAuditStore(path / "audit.sqlite"),
        signing_key=key,
        origin=kw.pop("origin", ORIGIN),
        checkpoint_interval=kw.pop("checkpoint_interval", None),
        **kw,
    )


def test_append_returns_positions_and_entries_survive_reopen(tmp_path):
    log = open_log(tmp_path)
    assert [log.append(entry(i)) for i in range(5)] == [0, 1, 2, 3, 4]
    assert log.size == 5
    log.close()
    log = open_log(tmp_path)
    assert log.size == 5
    assert log.append(entry(5)) == 5
    log.close()
    store = SQLiteAuditStore(tmp_path / "audit.sqlite", read_only=True)
    rows = list(store.scan())
    assert [r.seq for r in rows] == list(range(6))
    assert all(r.entry.seq == r.seq and r.leaf_hash == hash_leaf(r.body) for r in rows)
    assert rows[3].entry.counts == {"i": 3}


def test_group_commit_keeps_every_entry_from_many_threads(tmp_path):
    registry = CollectorRegistry()
    log = open_log(tmp_path, registry=registry)
    results: list[list[int]] = [[] for _ in range(16)]

    def worker(k: int) -> None:
        for i in range(50):
            results[k].append(log.append(entry(k * 1000 + i, department=f"d{k}")))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    seqs = sorted(s for r in results for s in r)
    assert seqs == list(range(800))
    store = SQLiteAuditStore(tmp_path / "audit.sqlite", read_only=True)
    stored = {r.seq: r.entry for r in store.scan()}
    for k, mine in enumerate(results):
        assert [stored[s].counts["i"] for s in mine] == [k * 1000 + i for i in range(50)]
    batches = registry.get_sample_value("aidlink_audit_commit_batch_entries_count")
    assert batches is not None and batches < 800  # some commits carried several entries


def test_checkpoint_on_demand_is_signed_and_consistent_with_the_previous_one(tmp_path):
    key = Ed25519PrivateKey.generate()
    verifier = NoteVerifier.from_public_key(ORIGIN, key.public_key())
    log = open_log(tmp_path, key)
    for i in range(7):
        log.append(entry(i))
    first = open_checkpoint(log.checkpoint(), verifier, ORIGIN)
    assert log.checkpoint() == log.latest_checkpoint().note  # nothing new: same checkpoint
    for i in range(6):
        log.append(entry(i))
    second = open_checkpoint(log.checkpoint(), verifier, ORIGIN)
    log.close()
    store = SQLiteAuditStore(tmp_path / "audit.sqlite", read_only=True)
    tree = MerkleTree(hash_leaf(r.body) for r in store.scan())
    assert (first.size, second.size) == (7, 13)
    assert first.root == tree.root(7) and second.root == tree.root(13)
    verify_consistency(7, 13, tree.consistency_proof(7, 13), first.root, second.root)
    assert [c.size for c in store.checkpoints()] == [7, 13]


def test_scheduled_checkpoint_is_issued_when_the_log_grew(tmp_path):
    key = Ed25519PrivateKey.generate()
    log = open_log(tmp_path, key, checkpoint_interval=0.05)
    log.append(entry())
    issued = threading.Event()
    for _ in range(200):
        if log.latest_checkpoint() is not None:
            issued.set()
            break
        threading.Event().wait(0.05)
    log.close()
    assert issued.is_set()
    assert log.latest_checkpoint().size == 1


def test_checkpoint_needs_a_key(tmp_path):
    log = open_log(tmp_path)
    with pytest.raises(AuditError, match="no signing key"):
        log.checkpoint()
    log.close()


def test_restart_with_another_key_or_origin_is_refused(tmp_path):
    key = Ed25519PrivateKey.generate()
    log = open_log(tmp_path, key)
    log.append(entry())
    log.checkpoint()
    log.close()
    with pytest.raises(AuditError, match="does not verify with the configured audit key"):
        open_log(tmp_path, Ed25519PrivateKey.generate())
    with pytest.raises(AuditError, match="cannot continue as"):
        open_log(tmp_path, key, origin="aidlink.audit/other")
    log = open_log(tmp_path, key, origin=None)  # origin taken from the stored checkpoint
    assert log.origin == ORIGIN
    log.close()


def test_log_does_not_open_over_a_truncated_store(tmp_path):
    key = Ed25519PrivateKey.generate()
    log = open_log(tmp_path, key)
    for i in range(4):
        log.append(entry(i))
    log.checkpoint()
    log.close()
    conn = sqlite3.connect(tmp_path / "audit.sqlite")
    conn.execute("DROP TRIGGER audit_entries_no_delete")
    conn.execute("DELETE FROM audit_entries WHERE seq = 3")
    conn.commit()
    conn.close()
    with pytest.raises(AuditIntegrityError, match="truncated from entry 3"):
        open_log(tmp_path, key)


def test_update_and_delete_are_rejected_by_the_database(tmp_path):
    key = Ed25519PrivateKey.generate()
    log = open_log(tmp_path, key)
    log.append(entry())
    log.checkpoint()
    log.close()
    conn = sqlite3.connect(tmp_path / "audit.sqlite")
    for statement in (
        "UPDATE audit_entries SET department = 'edu'",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET size = 0",
        "DELETE FROM audit_checkpoints",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    conn.close()


def test_append_fails_closed_when_the_store_cannot_write(tmp_path):
    registry = CollectorRegistry()
    log = open_log(tmp_path, registry=registry)
    log.append(entry())
    # Disk full: the database may not grow by another page.
    conn = log.store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(AuditUnavailable, match="write failed"):
        for i in range(200):
            log.append(entry(i, department="x" * 2000))
    assert registry.get_sample_value("aidlink_audit_append_failures_total") >= 1
    log.close()
    with pytest.raises(AuditUnavailable, match="closed"):
        log.append(entry())


def test_append_fails_closed_when_the_store_is_closed_under_it(tmp_path):
    log = open_log(tmp_path)
    log.append(entry())
    log.store.close()
    with pytest.raises(AuditUnavailable):
        log.append(entry())
    log.close()


def test_metrics_report_size_refusals_latency_and_checkpoint_age(tmp_path):
    registry = CollectorRegistry()
    log = open_log(tmp_path, Ed25519PrivateKey.generate(), registry=registry)
    log.append(entry(department="mca"))
    log.append(entry(department="edu", outcome="refused"))
    log.append(entry(department="edu", outcome="refused"))
    log.checkpoint()
    value = registry.get_sample_value
    assert value("aidlink_audit_log_size") == 3
    assert value("aidlink_audit_refused_calls_total", {"department": "edu"}) == 2
    assert value("aidlink_audit_append_seconds_count") == 3
    assert value("aidlink_audit_checkpoint_size") == 3
    assert 0 <= value("aidlink_audit_checkpoint_age_seconds") < 3600
    log.close()
