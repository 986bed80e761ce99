"""What a witness remembers: the latest checkpoint it cosigned for each log, durably.

One SQLite file, created 0600 in a 0700 directory, WAL with synchronous=FULL, so a
row is on disk when its transaction commits, which happens before the witness
answers. `advance` checks the stored size and writes the new checkpoint in one
``BEGIN IMMEDIATE`` transaction (and under one lock), so two concurrent submissions
cannot roll the witness back (the race described in C2SP tlog-witness). Every
cosigned checkpoint is also appended to a history table, for the witness operator.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aidlink.keys.key_files import PRIVATE_FILE_MODE, ensure_directory

SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
    origin  TEXT PRIMARY KEY,
    size    INTEGER NOT NULL,
    root    BLOB NOT NULL,
    note    BLOB NOT NULL,
    time    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id      INTEGER PRIMARY KEY,
    origin  TEXT NOT NULL,
    size    INTEGER NOT NULL,
    root    BLOB NOT NULL,
    note    BLOB NOT NULL,
    time    INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Latest:
    """The latest checkpoint the witness cosigned for a log; `note` carries the cosignature."""

    origin: str
    size: int
    root: bytes
    note: bytes
    time: int


class WitnessState:
    """The witness's SQLite state file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        ensure_directory(self.path.parent, private=True)
        for suffix in ("", "-wal", "-shm"):  # SQLite gives its side files the database file's mode
            candidate = Path(f"{self.path}{suffix}")
            if suffix == "" or candidate.exists():
                os.close(os.open(candidate, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))
                os.chmod(candidate, PRIVATE_FILE_MODE)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)

    def latest(self, origin: str) -> Latest | None:
        with self._lock:
            return self._latest(origin)

    def _latest(self, origin: str) -> Latest | None:
        row = self._conn.execute(
            "SELECT origin, size, root, note, time FROM latest WHERE origin = ?", (origin,)
        ).fetchone()
        return None if row is None else Latest(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def advance(self, origin: str, decide: Callable[[Latest | None], Latest]) -> Latest:
        """Atomically: `decide` sees the stored latest (or None) and returns the new one, or raises;
        the new one is durable when this returns."""
        with self._lock, self._transaction() as conn:
            new = decide(self._latest(origin))
            conn.execute(
                "INSERT INTO latest (origin, size, root, note, time) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                "note = excluded.note, time = excluded.time",
                (new.origin, new.size, new.root, new.note, new.time),
            )
            conn.execute(
                "INSERT INTO history (origin, size, root, note, time) VALUES (?, ?, ?, ?, ?)",
                (new.origin, new.size, new.root, new.note, new.time),
            )
            return new

    def close(self) -> None:
        with self._lock:
            self._conn.close()
