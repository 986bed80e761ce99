"""The audit log's behaviours on both stores: SQLite (embedded default) and a real PostgreSQL.

Each PostgreSQL test runs in a fresh schema (search_path in the URL), dropped afterwards.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from aidlink.audit.entry import AuditEntry, utc_now
from aidlink.audit.log import AuditIntegrityError, AuditLog, AuditUnavailable
from aidlink.audit.merkle import hash_leaf
from aidlink.audit.open_store import open_audit_store
from aidlink.audit.postgres_store import PostgresAuditStore, grant_writer
from aidlink.audit.query import EntryFilter
from aidlink.audit.schema import MIGRATIONS
from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.audit.store import AuditStoreError
from aidlink.audit.verifier_key import VerifierKey
from aidlink.audit.verify import verify_log
from aidlink.database.url import parse_database_url, sqlite_url
from tests.support.postgres import postgres_unreachable, scratch_schema

LATEST = len(MIGRATIONS)  # the audit schema version this aidlink migrates to

ORIGIN = "aidlink.audit/pg-test"
_UNREACHABLE = postgres_unreachable()
TRIGGERS = (
    "audit_entries_no_update",
    "audit_entries_no_delete",
    "audit_checkpoints_no_update",
    "audit_checkpoints_no_delete",
)


def _postgres_url():
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    with scratch_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "audit.sqlite")
    else:
        yield from _postgres_url()


@pytest.fixture
def pg_url():
    yield from _postgres_url()


class Operator:
    """Someone with direct access to the database, outside aidlink (autocommit)."""

    def __init__(self, url: str) -> None:
        parsed = parse_database_url(url)
        self.dialect = parsed.dialect
        if self.dialect == "sqlite":
            self.conn = sqlite3.connect(parsed.path, isolation_level=None)
            self.p = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.p = "%s"

    def execute(self, statement: str, params: tuple = ()) -> list[tuple]:
        cur = self.conn.execute(statement.replace("?", self.p), params)
        return list(cur.fetchall()) if cur.description else []

    def drop_triggers(self) -> None:
        for trigger in TRIGGERS:
            table = trigger.rsplit("_no_", 1)[0]
            self.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if self.dialect != "sqlite" else ""))

    def close(self) -> None:
        self.conn.close()


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


def open_log(url: str, key=None, **kw) -> AuditLog:
    return AuditLog(
        open_audit_store(url), signing_key=key, origin=kw.pop("origin", ORIGIN), checkpoint_interval=None, **kw
    )


def verify(url: str, key):
    store = open_audit_store(url, read_only=True)
    try:
        return verify_log(store, [VerifierKey(key.public_key())])
    finally:
        store.close()


def test_factory_opens_the_store_the_url_names(url):
    store = open_audit_store(url)
    try:
        expected = SQLiteAuditStore if url.startswith("sqlite") else PostgresAuditStore
        assert type(store) is expected
    finally:
        store.close()


def test_append_survives_reopen_and_reads_back_through_every_query(url):
    log = open_log(url)
    assert [log.append(entry(i, department=("mca", "edu")[i % 2])) for i in range(6)] == list(range(6))
    log.close()
    log = open_log(url)
    assert log.size == 6 and log.append(entry(6)) == 6
    log.close()
    store = open_audit_store(url, read_only=True)
    try:
        rows = list(store.scan(batch=4))  # several batches
        assert [r.seq for r in rows] == list(range(7))
        assert all(r.entry.seq == r.seq and r.leaf_hash == hash_leaf(r.body) for r in rows)
        assert all(r.columns == r.expected_columns() for r in rows)
        assert store.count() == 7
        assert [r.seq for r in store.query(EntryFilter(department="edu"))] == [1, 3, 5]
        assert [
            r.seq
            for r in store.query(
                EntryFilter(method="QueryStatus", dataset="mca/low-income"), limit=2, newest_first=True
            )
        ] == [6, 5]
        hours = store.hourly_counts("2000-01-01T00", "9999-01-01T00")
        assert sum(n for *_, n in hours) == 7 and {d for d, *_ in hours} == {"mca", "edu"}
    finally:
        store.close()


def test_group_commit_keeps_every_entry_from_many_threads(url):
    registry = CollectorRegistry()
    log = open_log(url, registry=registry)
    results: list[list[int]] = [[] for _ in range(12)]

    def worker(k: int) -> None:
        for i in range(40):
            results[k].append(log.append(entry(k * 1000 + i, department=f"d{k}")))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert sorted(s for r in results for s in r) == list(range(480))
    store = open_audit_store(url, read_only=True)
    stored = {r.seq: r.entry for r in store.scan()}
    store.close()
    for k, mine in enumerate(results):
        assert [stored[s].counts["i"] for s in mine] == [k * 1000 + i for i in range(40)]
    assert registry.get_sample_value("aidlink_audit_commit_batch_entries_count") < 480


def test_restart_continues_with_no_loss_and_verification_intact(url):
    key = Ed25519PrivateKey.generate()
    log = open_log(url, key)
    for i in range(9):
        log.append(entry(i))
    log.checkpoint()
    log.close()  # final checkpoint only if it grew: none here
    log = open_log(url, key, origin=None)  # origin taken from the stored checkpoint
    assert (log.size, log.origin, log.latest_checkpoint().size) == (9, ORIGIN, 9)
    for i in range(9, 15):
        assert log.append(entry(i)) == i
    log.close()  # signs a last checkpoint of 15
    result = verify(url, key)
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints, result.signatures_checked) == (15, 2, True)


def test_update_delete_and_truncate_are_rejected_by_the_database(url):
    log = open_log(url, Ed25519PrivateKey.generate())
    log.append(entry())
    log.checkpoint()
    log.close()
    op = Operator(url)
    statements = [
        "UPDATE audit_entries SET department = 'edu'",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET size = 0",
        "DELETE FROM audit_checkpoints",
    ]
    if op.dialect == "postgresql":
        statements += ["TRUNCATE audit_entries", "TRUNCATE audit_checkpoints"]
    try:
        for statement in statements:
            with pytest.raises(Exception, match="append-only") as err:
                op.execute(statement)
            assert "IntegrityConstraintViolation" in type(err.value).__name__ or isinstance(
                err.value, sqlite3.IntegrityError
            )
        assert op.execute("SELECT COUNT(*) FROM audit_entries") == [(1,)]
        assert op.execute("SELECT COUNT(*) FROM audit_checkpoints") == [(1,)]
    finally:
        op.close()


def test_tampering_by_an_operator_who_drops_the_triggers_is_named(url):
    key = Ed25519PrivateKey.generate()
    log = open_log(url, key)
    for i in range(12):
        log.append(entry(i))
        if i == 5:
            log.checkpoint()
    log.close()
    op = Operator(url)
    try:
        op.drop_triggers()
        (raw,) = op.execute("SELECT body FROM audit_entries WHERE seq = ?", (8,))[0]
        changed = json.loads(bytes(raw))
        changed["outcome"] = "refused"
        body = json.dumps(changed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        op.execute("UPDATE audit_entries SET body = ? WHERE seq = ?", (body, 8))
    finally:
        op.close()
    result = verify(url, key)
    assert not result.ok and result.first_bad_seq == 8
    assert any("entry 8 was changed" in p.message for p in result.problems)
    op = Operator(url)  # a careful operator rewrites the leaf hash too: the checkpoints catch it
    try:
        op.execute("UPDATE audit_entries SET leaf_hash = ? WHERE seq = ?", (hash_leaf(body), 8))
    finally:
        op.close()
    result = verify(url, key)
    assert not result.ok and result.first_bad_seq == 8
    assert any((p.seq, p.last) == (6, 11) and "checkpoint #2" in p.message for p in result.problems)
    with pytest.raises(AuditIntegrityError, match="entries were changed"):
        open_log(url, key)


def test_log_does_not_open_over_a_truncated_store(url):
    key = Ed25519PrivateKey.generate()
    log = open_log(url, key)
    for i in range(4):
        log.append(entry(i))
    log.checkpoint()
    log.close()
    op = Operator(url)
    try:
        op.drop_triggers()
        op.execute("DELETE FROM audit_entries WHERE seq = ?", (3,))
    finally:
        op.close()
    with pytest.raises(AuditIntegrityError, match="truncated from entry 3"):
        open_log(url, key)


def test_append_fails_closed_when_the_store_is_closed_under_it(url):
    registry = CollectorRegistry()
    log = open_log(url, registry=registry)
    log.append(entry())
    log.store.close()
    with pytest.raises(AuditUnavailable, match="write failed"):
        log.append(entry(1))
    assert registry.get_sample_value("aidlink_audit_append_failures_total") == 1
    log.close()
    with pytest.raises(AuditUnavailable, match="closed"):
        log.append(entry(2))


def test_read_only_store_refuses_writes(url):
    open_log(url).close()
    store = open_audit_store(url, read_only=True)
    try:
        with pytest.raises(Exception, match="read-only|readonly"):
            store.append_checkpoint(utc_now(), 0, b"\0" * 32, b"note")
    finally:
        store.close()


# -- PostgreSQL only -------------------------------------------------------------------------


def test_lost_server_connection_refuses_the_call_then_recovers(pg_url):
    store = PostgresAuditStore(pg_url, pool_size=1)
    key = Ed25519PrivateKey.generate()  # signs the checkpoint on close: verify fails on a log without one
    log = AuditLog(store, signing_key=key, origin=ORIGIN, checkpoint_interval=None)
    log.append(entry(0))
    with store._reading() as cur:
        cur.execute("SELECT pg_backend_pid()")
        (pid,) = cur.fetchone()
    op = Operator(pg_url)
    try:
        assert op.execute("SELECT pg_terminate_backend(?)", (pid,)) == [(True,)]
    finally:
        op.close()
    with pytest.raises(AuditUnavailable, match="write failed"):
        log.append(entry(1))  # the pool's only connection is dead: this call is refused
    assert log.append(entry(2)) == 1  # the pool reconnected; nothing was lost or skipped
    log.close()
    store = open_audit_store(pg_url, read_only=True)
    try:
        assert [(r.seq, r.entry.counts["i"]) for r in store.scan()] == [(0, 0), (1, 2)]
        assert verify_log(store, [VerifierKey(key.public_key())]).ok
    finally:
        store.close()


def test_application_role_may_append_and_read_but_not_change_or_drop(pg_url):
    store = PostgresAuditStore(pg_url)
    role = f"aidlink_app_{secrets.token_hex(4)}"
    op = Operator(pg_url)
    import psycopg

    op.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        grant_writer(store, role)
        op.execute(f"SET ROLE {role}")
        op.execute(
            "INSERT INTO audit_checkpoints (number, time, size, root, note) VALUES (?, ?, ?, ?, ?)",
            (1, utc_now(), 0, b"\0" * 32, b"n"),
        )
        assert op.execute("SELECT COUNT(*) FROM audit_checkpoints") == [(1,)]
        for statement in (
            "UPDATE audit_checkpoints SET size = 1",
            "DELETE FROM audit_checkpoints",
            "TRUNCATE audit_entries",
            "DROP TRIGGER audit_entries_no_update ON audit_entries",
            "ALTER TABLE audit_entries DISABLE TRIGGER ALL",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied|must be owner"):
                op.execute(statement)
    finally:
        op.execute("RESET ROLE")
        op.execute(f"DROP OWNED BY {role}")
        op.execute(f"DROP ROLE {role}")
        op.close()
        store.close()


def test_read_only_store_needs_a_migrated_schema(pg_url):
    with pytest.raises(AuditStoreError, match=f"audit schema .* is at version 0, this aidlink needs {LATEST}"):
        open_audit_store(pg_url, read_only=True)


def test_unreachable_server_is_named_without_its_password():
    with pytest.raises(
        AuditStoreError, match=r"cannot connect to PostgreSQL at postgresql://a:\*\*\*@127\.0\.0\.1:1/x"
    ):
        PostgresAuditStore("postgresql://a:secret@127.0.0.1:1/x", timeout=2)


# -- SQLite only ---------------------------------------------------------------------------


def test_sqlite_audit_file_from_before_migrations_is_adopted_unchanged(tmp_path):
    from aidlink.audit.schema import SQLITE_V1
    from aidlink.database.connection import Database
    from aidlink.database.migrations import schema_version

    path = tmp_path / "audit.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SQLITE_V1)  # what aidlink wrote before schema migrations existed
    conn.close()
    log = AuditLog(SQLiteAuditStore(path), origin=ORIGIN, checkpoint_interval=None)
    log.append(entry(0))
    log.close()
    log = AuditLog(SQLiteAuditStore(path), origin=ORIGIN, checkpoint_interval=None)
    assert log.append(entry(1)) == 1
    log.close()
    with Database(sqlite_url(path), read_only=True) as db:
        assert schema_version(db, "audit") == LATEST


def test_sqlite_audit_file_from_a_newer_aidlink_is_refused(tmp_path):
    path = tmp_path / "audit.sqlite"
    SQLiteAuditStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES ('audit', ?, 'future', 'x', '2030-01-01')", (LATEST + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(
        AuditStoreError, match=f"at version {LATEST + 1}, but this aidlink knows versions up to {LATEST}"
    ):
        SQLiteAuditStore(path)
