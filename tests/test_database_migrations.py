"""Connections, transactions and numbered migrations, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from aidlink.database.connection import Database, DatabaseUnavailable
from aidlink.database.migrations import Migration, SchemaError, migrate, require_current, schema_version
from aidlink.database.url import sqlite_url
from tests.support.postgres import postgres_unreachable, scratch_schema

_UNREACHABLE = postgres_unreachable()

NOTES_V1 = Migration(1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
NOTES_V2 = Migration(
    2,
    "note authors",
    {
        "sqlite": "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT '';\n"
        "CREATE INDEX notes_by_author ON notes(author);",
        "postgresql": "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT '';\n"
        "CREATE INDEX notes_by_author ON notes(author);",
    },
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "state.sqlite")
        return
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    with scratch_schema() as scratch:
        yield scratch


@pytest.fixture
def db(url):
    with Database(url) as database:
        yield database


def tables(db: Database) -> set[str]:
    with db.reading() as cur:
        if db.dialect == "sqlite":
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return {name for (name,) in cur.fetchall()}


def test_migrations_apply_once_in_order_and_are_recorded(db):
    assert migrate(db, "notes", [NOTES_V1]) == [1]
    assert migrate(db, "notes", [NOTES_V1]) == []
    assert migrate(db, "notes", [NOTES_V1, NOTES_V2]) == [2]
    assert schema_version(db, "notes") == 2
    assert schema_version(db, "other") == 0
    with db.transaction() as cur:
        cur.execute(db.sql("INSERT INTO notes (id, body, author) VALUES (?, ?, ?)"), (1, "hello", "mca"))
    with db.reading() as cur:
        cur.execute("SELECT component, version, name FROM schema_migrations ORDER BY version")
        assert cur.fetchall() == [("notes", 1, "notes"), ("notes", 2, "note authors")]
        cur.execute(db.sql("SELECT body FROM notes WHERE author = ?"), ("mca",))
        assert cur.fetchall() == [("hello",)]
    require_current(db, "notes", [NOTES_V1, NOTES_V2])


def test_components_are_versioned_independently(db):
    migrate(db, "notes", [NOTES_V1])
    migrate(db, "tags", [Migration(1, "tags", "CREATE TABLE tags (name TEXT PRIMARY KEY)")])
    assert (schema_version(db, "notes"), schema_version(db, "tags")) == (1, 1)
    assert {"notes", "tags", "schema_migrations"} <= tables(db)


def test_a_failing_migration_leaves_nothing_behind(db):
    broken = Migration(2, "broken", "CREATE TABLE extra (x INTEGER);\nALTER TABLE no_such_table ADD COLUMN y TEXT;")
    with pytest.raises(SchemaError, match=r"notes migration 2 \(broken\) failed"):
        migrate(db, "notes", [NOTES_V1, broken])
    # Migration 1, run in the same transaction, was rolled back too.
    assert schema_version(db, "notes") == 0
    assert not {"notes", "extra"} & tables(db)


def test_an_edited_released_migration_is_refused(db):
    migrate(db, "notes", [NOTES_V1])
    edited = Migration(1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    with pytest.raises(SchemaError, match=r"migration 1 \(notes\) .* differs"):
        migrate(db, "notes", [edited])


def test_a_schema_from_a_newer_aidlink_is_refused(db):
    migrate(db, "notes", [NOTES_V1, NOTES_V2])
    with pytest.raises(SchemaError, match="at version 2, but this aidlink knows versions up to 1"):
        migrate(db, "notes", [NOTES_V1])


def test_read_only_use_requires_a_current_schema(url):
    with Database(url) as db:
        migrate(db, "notes", [NOTES_V1])
    with Database(url, read_only=True) as reader:
        with pytest.raises(SchemaError, match="at version 1, this aidlink needs 2"):
            require_current(reader, "notes", [NOTES_V1, NOTES_V2])
        with pytest.raises(DatabaseUnavailable, match="read-only"):
            with reader.transaction():
                pass


def test_migrations_must_be_numbered_from_one_without_gaps(db):
    with pytest.raises(SchemaError, match="position 2 holds version 3"):
        migrate(db, "notes", [NOTES_V1, Migration(3, "gap", "SELECT 1")])


def test_a_function_step_sees_the_dialect(db):
    def add_column_if_missing(cur, database: Database) -> None:
        if database.dialect == "sqlite":
            cur.execute("PRAGMA table_info(notes)")
            names = {row[1] for row in cur.fetchall()}
        else:
            cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'notes'"
            )
            names = {row[0] for row in cur.fetchall()}
        if "author" not in names:
            cur.execute("ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT ''")

    with db.transaction() as cur:  # an older, unversioned store that already has the column
        cur.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, author TEXT)")
    adopt = Migration(1, "notes", "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    assert migrate(db, "notes", [adopt, Migration(2, "authors", add_column_if_missing)]) == [1, 2]


def test_concurrent_migrators_apply_each_migration_once(url):
    errors: list[BaseException] = []
    applied: list[list[int]] = []
    start = threading.Barrier(4, timeout=60)

    def open_and_migrate() -> None:
        try:
            with Database(url) as db:
                start.wait()
                applied.append(migrate(db, "notes", [NOTES_V1, NOTES_V2]))
        except BaseException as exc:
            start.abort()  # the others stop waiting: the test fails with this error instead of hanging
            errors.append(exc)

    threads = [threading.Thread(target=open_and_migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a migrator never finished"
    assert not [e for e in errors if not isinstance(e, threading.BrokenBarrierError)], errors
    assert not errors, errors
    assert sorted(applied) == [[], [], [], [1, 2]]


def test_transaction_commits_on_success_and_rolls_back_on_error(db):
    migrate(db, "notes", [NOTES_V1])
    with db.transaction() as cur:
        cur.execute(db.sql("INSERT INTO notes (id, body) VALUES (?, ?)"), (1, "kept"))
    with pytest.raises(db.integrity_errors):
        with db.transaction() as cur:
            cur.execute(db.sql("INSERT INTO notes (id, body) VALUES (?, ?)"), (2, "rolled back"))
            cur.execute(db.sql("INSERT INTO notes (id, body) VALUES (?, ?)"), (1, "duplicate key"))
    with db.reading() as cur:
        cur.execute("SELECT id, body FROM notes ORDER BY id")
        assert cur.fetchall() == [(1, "kept")]


def test_portable_sql_keeps_literal_percent_signs(db):
    migrate(db, "notes", [NOTES_V1])
    with db.transaction() as cur:
        cur.execute(db.sql("INSERT INTO notes (id, body) VALUES (?, ?)"), (1, "100% done"))
        cur.execute(db.sql("INSERT INTO notes (id, body) VALUES (?, ?)"), (2, "half"))
    with db.reading() as cur:
        cur.execute(db.sql("SELECT id FROM notes WHERE body LIKE '%done' AND id >= ?"), (0,))
        assert cur.fetchall() == [(1,)]


def test_closed_database_refuses_use(url):
    db = Database(url)
    db.close()
    with pytest.raises(DatabaseUnavailable, match="closed"):
        with db.reading():
            pass


def test_unreachable_postgresql_is_named_with_the_driver_reason():
    with pytest.raises(
        DatabaseUnavailable, match=r"cannot connect to PostgreSQL at postgresql://u:\*\*\*@127\.0\.0\.1:1/x"
    ):
        Database("postgresql://u:pw@127.0.0.1:1/x", timeout=2)
