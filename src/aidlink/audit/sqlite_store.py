"""The SQLite audit store (the embedded default): schema, triggers and connections.

UPDATE and DELETE of entries and checkpoints are rejected by the database
itself (triggers), not only by this code. Writes are durable when a write
transaction returns (WAL, synchronous=FULL). Everything SQLite-specific lives
here; the SQL shared with other databases is in audit.store.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from aidlink.audit.schema import COMPONENT, MIGRATIONS, SQLITE_V1
from aidlink.audit.store import AuditStoreError, SQLAuditStore, StoredCosignature
from aidlink.database.connection import Database, DatabaseUnavailable
from aidlink.database.migrations import SchemaError, migrate
from aidlink.database.url import DatabaseUrl

SCHEMA = SQLITE_V1  # the schema as migration 1 of audit.schema makes it


class SQLiteAuditStore(SQLAuditStore):
    @property
    def location(self) -> str:
        return str(self.path)

    """Audit entries and checkpoints in one SQLite file; `read_only` for officers' tools."""

    def __init__(self, path: Path | str, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        self._closed = False
        self._conn: sqlite3.Connection | None = None
        if read_only:
            if not self.path.is_file():
                raise AuditStoreError(f"no audit log at {self.path}")
        else:
            self._migrate()
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, cached_statements=256
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        self._check_schema()

    def _migrate(self) -> None:
        try:
            with Database(DatabaseUrl("sqlite", f"sqlite:///{self.path}", path=self.path)) as db:
                migrate(db, COMPONENT, MIGRATIONS)
        except (DatabaseUnavailable, SchemaError) as exc:
            raise AuditStoreError(f"cannot open the audit store {self.path}: {exc}") from None

    def _connect_reader(self) -> sqlite3.Connection:
        if self.read_only:
            return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        return sqlite3.connect(self.path)

    def _check_schema(self) -> None:
        try:
            with self._reading() as cur:
                cur.execute("SELECT seq, leaf_hash FROM audit_entries LIMIT 0")
                cur.execute("SELECT number, size, root, note FROM audit_checkpoints LIMIT 0")
        except sqlite3.Error as exc:
            raise AuditStoreError(
                f"{self.path} is not an audit store of this version ({exc}); "
                "it was written by an older aidlink or is another file"
            ) from None

    def cosignatures(self) -> list[StoredCosignature]:
        try:
            return super().cosignatures()
        except sqlite3.OperationalError as exc:  # a file from before witnesses, read-only: none stored
            if "no such table" in str(exc):
                return []
            raise

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            if self._closed or self._conn is None:
                raise AuditStoreError(f"audit store {self.path} is {'closed' if self._closed else 'open read-only'}")
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _write_statement(self, statement: str, params: Sequence[object]) -> None:
        # Autocommit mode: the statement is its own transaction, without BEGIN/COMMIT round trips.
        with self._lock:
            if self._closed or self._conn is None:
                raise AuditStoreError(f"audit store {self.path} is {'closed' if self._closed else 'open read-only'}")
            self._conn.execute(statement, params)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Cursor]:
        if self._closed:
            raise AuditStoreError(f"audit store {self.path} is closed")
        conn = self._connect_reader()
        try:
            yield conn.cursor()
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
