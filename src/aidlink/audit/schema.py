"""The audit store's schema, as numbered migrations of the ``audit`` component.

Both dialects hold the same tables and columns; each makes the log append-only
in the database itself. SQLite: BEFORE UPDATE/DELETE triggers (SQLite has no
TRUNCATE). PostgreSQL: row triggers that raise on UPDATE and DELETE and a
statement trigger that raises on TRUNCATE, for entries and checkpoints; the
application role should in addition hold only SELECT and INSERT (`grant_writer`
in audit.postgres_store), so that only the schema owner can drop the triggers.

The SQLite script of migration 1 is the schema of the stores written before
migrations existed (``IF NOT EXISTS`` throughout), so such files are adopted
unchanged. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from aidlink.database.append_only import postgres_append_only
from aidlink.database.migrations import Migration

COMPONENT = "audit"

SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS audit_entries (
    seq        INTEGER PRIMARY KEY,
    time       TEXT NOT NULL,
    department TEXT NOT NULL,
    identity   TEXT NOT NULL,
    method     TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    agreement  TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    datasets   TEXT NOT NULL,
    body       BLOB NOT NULL,
    leaf_hash  BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_entries(time);
CREATE INDEX IF NOT EXISTS audit_by_department ON audit_entries(department, time);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    number INTEGER PRIMARY KEY,
    time   TEXT NOT NULL,
    size   INTEGER NOT NULL,
    root   BLOB NOT NULL,
    note   BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE of audit_entries refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE from audit_entries refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE of audit_checkpoints refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE from audit_checkpoints refused'); END;
"""

POSTGRESQL_V1 = """
CREATE TABLE audit_entries (
    seq        BIGINT PRIMARY KEY CHECK (seq >= 0),
    time       TEXT NOT NULL,
    department TEXT NOT NULL,
    identity   TEXT NOT NULL,
    method     TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    agreement  TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    datasets   TEXT NOT NULL,
    body       BYTEA NOT NULL,
    leaf_hash  BYTEA NOT NULL
);
CREATE INDEX audit_by_time ON audit_entries(time);
CREATE INDEX audit_by_department ON audit_entries(department, time);
CREATE TABLE audit_checkpoints (
    number BIGINT PRIMARY KEY CHECK (number >= 1),
    time   TEXT NOT NULL,
    size   BIGINT NOT NULL,
    root   BYTEA NOT NULL,
    note   BYTEA NOT NULL
);
""" + postgres_append_only("audit_append_only", "audit log is append-only", ["audit_entries", "audit_checkpoints"])

# Migration 2: witnesses' cosignatures (C2SP tlog-cosignature lines), kept beside the checkpoint
# they cosign, one per checkpoint and witness; append-only like the rest of the log.
SQLITE_V2 = """
CREATE TABLE IF NOT EXISTS audit_cosignatures (
    checkpoint INTEGER NOT NULL,  -- audit_checkpoints.number (no foreign key: TRUNCATE must still hit the triggers)
    witness    TEXT NOT NULL,
    time       TEXT NOT NULL,
    line       TEXT NOT NULL,
    PRIMARY KEY (checkpoint, witness)
);
CREATE TRIGGER IF NOT EXISTS audit_cosignatures_no_update BEFORE UPDATE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE of audit_cosignatures refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_cosignatures_no_delete BEFORE DELETE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE from audit_cosignatures refused'); END;
"""

POSTGRESQL_V2 = """
CREATE TABLE audit_cosignatures (
    checkpoint BIGINT NOT NULL,  -- audit_checkpoints.number
    witness    TEXT NOT NULL,
    time       TEXT NOT NULL,
    line       TEXT NOT NULL,
    PRIMARY KEY (checkpoint, witness)
);
""" + postgres_append_only("audit_cosignatures_append_only", "audit log is append-only", ["audit_cosignatures"])

# Migration 3: officers sort and page the log by any recorded field (the review console): one
# (field, time, seq) index each, so keyset paging reads about a page of rows at any size. The
# department index of migration 1 lacks seq; its replacement here covers the tie-break too.
SORT_INDEXES = (
    "\n".join(
        f"CREATE INDEX IF NOT EXISTS audit_sort_{column} ON audit_entries({column}, time, seq);"
        for column in ("department", "identity", "method", "purpose", "agreement", "datasets", "outcome")
    )
    + "\nCREATE INDEX IF NOT EXISTS audit_sort_time ON audit_entries(time, seq);\n"
)

MIGRATIONS = (
    Migration(1, "entries, checkpoints, append-only triggers", {"sqlite": SQLITE_V1, "postgresql": POSTGRESQL_V1}),
    Migration(2, "witness cosignatures of checkpoints", {"sqlite": SQLITE_V2, "postgresql": POSTGRESQL_V2}),
    Migration(3, "an index per field officers sort by", {"sqlite": SORT_INDEXES, "postgresql": SORT_INDEXES}),
)
