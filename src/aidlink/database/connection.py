"""Connections to one database named by a URL, with the placeholder style and transactions.

Stores write portable SQL with ``?`` placeholders and pass it through `Database.sql`;
`transaction()` gives a cursor inside one write transaction (committed durably on
clean exit, rolled back on error) and `reading()` a cursor that sees every
committed write. The two dialects:

- SQLite (the embedded default): one writer connection behind a lock (``BEGIN
  IMMEDIATE``, WAL, ``synchronous=FULL``) and a fresh connection per read, so
  readers never wait for the writer.
- PostgreSQL (psycopg 3): a small connection pool (psycopg_pool); every session
  has ``synchronous_commit = on`` so a commit is durable when it returns, and a
  read-only `Database` sets ``default_transaction_read_only``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aidlink.database.url import DatabaseUrl, parse_database_url

SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened as configured."""


class Database:
    """One database (an SQLite file or a PostgreSQL database) named by a URL."""

    def __init__(
        self,
        url: str | DatabaseUrl,
        *,
        read_only: bool = False,
        pool_size: int = 4,
        timeout: float = 10.0,
        application_name: str = "aidlink",
    ) -> None:
        self.url = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
        self.dialect = self.url.dialect
        self.read_only = read_only
        self.placeholder = "?" if self.dialect == "sqlite" else "%s"
        self._closed = False
        if self.dialect == "sqlite":
            self._engine: _SQLite | _PostgreSQL = _SQLite(self.url.path, read_only)
        else:
            self._engine = _PostgreSQL(self.url, read_only, pool_size, timeout, application_name)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The driver's DB-API error classes, for `except db.errors`."""
        return self._engine.errors

    @property
    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        """Errors raised when a constraint or trigger refuses a write."""
        return self._engine.integrity_errors

    def sql(self, text: str) -> str:
        """Portable SQL (``?`` placeholders; no literal ``?`` in it) in this dialect's style."""
        if self.dialect == "sqlite":
            return text
        return text.replace("%", "%%").replace("?", "%s")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one write transaction: committed durably on clean exit, rolled back on error."""
        self._check_open()
        if self.read_only:
            raise DatabaseUnavailable(f"database {self.url} is open read-only")
        with self._engine.transaction() as cur:
            yield cur

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor (autocommit) that sees every committed write."""
        self._check_open()
        with self._engine.reading() as cur:
            yield cur

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        """One row of a portable query (``?`` placeholders), or None."""
        with self.reading() as cur:
            cur.execute(self.sql(sql), tuple(params))
            return cur.fetchone()

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Every row of a portable query (``?`` placeholders)."""
        with self.reading() as cur:
            cur.execute(self.sql(sql), tuple(params))
            return cur.fetchall()

    def run_script(self, cur: Any, script: str) -> None:
        """Run several ``;``-separated statements (no parameters) on `cur`, inside its transaction."""
        if self.dialect == "postgresql":
            cur.execute(script)
            return
        for statement in sqlite_statements(script):
            cur.execute(statement)

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseUnavailable(f"database {self.url} is closed")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.url.redacted()!r}{', read_only=True' if self.read_only else ''})"


def sqlite_statements(script: str) -> Iterator[str]:
    """The complete statements of an SQLite script (trigger bodies hold ``;`` too)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip():
        if sqlite3.complete_statement(pending + ";"):  # the last statement may omit its ';'
            yield pending.strip()
            return
        raise ValueError(f"SQL script ends inside a statement: {pending.strip()[:80]!r}")


class _SQLite:
    errors = (sqlite3.Error,)
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: Path | None, read_only: bool) -> None:
        assert path is not None
        self.path = path
        self.read_only = read_only
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if read_only:
            if not path.is_file():
                raise DatabaseUnavailable(f"no SQLite database at {path}")
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, cached_statements=256)
            self._conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(self._conn)
            self._conn.execute("PRAGMA synchronous=FULL")
        except (sqlite3.Error, OSError) as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {path}: {exc}") from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            if self._conn is None:
                raise DatabaseUnavailable(f"SQLite database {self.path} is closed")
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Cursor]:
        if self.read_only:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        else:
            conn = sqlite3.connect(self.path)
        try:
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            yield conn.cursor()
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch a SQLite file to WAL. Two processes opening a new file at once can both try: the
    switch then answers "database is locked" at once, without waiting on the busy timeout, so it
    is retried for as long as that timeout would have waited."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class _PostgreSQL:
    def __init__(
        self, url: DatabaseUrl, read_only: bool, pool_size: int, timeout: float, application_name: str
    ) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
        from psycopg_pool import ConnectionPool

        self.errors = (psycopg.Error,)
        self.integrity_errors = (
            psycopg.errors.IntegrityError,
            psycopg.errors.RaiseException,
            psycopg.errors.InsufficientPrivilege,
        )
        self.url = url
        assert url.conninfo is not None  # a postgresql URL always carries its connection string
        conninfo: str = url.conninfo
        kwargs: dict[str, Any] = {"autocommit": True}
        params = conninfo_to_dict(conninfo)
        if "application_name" not in params:
            kwargs["application_name"] = application_name
        if "connect_timeout" not in params:
            kwargs["connect_timeout"] = max(1, int(timeout))
        self._settings = ["SET synchronous_commit = on"]
        if read_only:
            self._settings.append("SET default_transaction_read_only = on")
        # A first connection made directly, so that a bad host, database or password is
        # reported with libpq's own message rather than as a pool timeout.
        try:
            psycopg.connect(conninfo, **kwargs).close()
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {url}: {str(exc).strip()}") from None
        self._pool = ConnectionPool(
            conninfo,
            kwargs=kwargs,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            configure=self._configure,
            timeout=timeout,
            name=f"{application_name}-{id(self):x}",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except psycopg.Error as exc:
            self._pool.close()
            raise DatabaseUnavailable(f"cannot open a connection pool to PostgreSQL at {url}: {exc}") from None

    def _configure(self, conn: Any) -> None:
        for statement in self._settings:
            conn.execute(statement)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            yield cur

    def close(self) -> None:
        self._pool.close()
