"""The node's own log of every call to its API: who, what, when, and how it was answered.

An append-only SQLite table in ``calls.sqlite`` beside the node's other state (0600 in a
0700 directory): triggers refuse every UPDATE and DELETE, so the node's code cannot rewrite
an entry by mistake (whoever holds the host can still edit the file; the matcher's audit log,
not this one, is the record that must survive a hostile host). Every field is bounded before
it is stored, and what a caller wrote is stored as written and escaped when shown
(:func:`aidlink.audit.officer_text.escape_for_officer`). Person data never enters it: requests
are described only by the dataset, agreement, purpose and referral fields they name.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aidlink.audit.officer_text import escape_for_officer
from aidlink.gateway.state_files import private_sqlite

CALL_LOG_FILE = "calls.sqlite"
MAX_FIELD = 256  # characters kept of any one field; longer ones are cut and say how long they were
SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, identity TEXT NOT NULL, peer TEXT NOT NULL,
    method TEXT NOT NULL, subject TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS calls_no_update BEFORE UPDATE ON calls
    BEGIN SELECT RAISE(ABORT, 'the node call log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS calls_no_delete BEFORE DELETE ON calls
    BEGIN SELECT RAISE(ABORT, 'the node call log is append-only'); END;
"""


class CallLogUnavailable(Exception):
    """The call log cannot be written; the call it was for is refused."""


def bounded(text: str, limit: int = MAX_FIELD) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


@dataclass
class NodeCall:
    """One call to the node, as the call log keeps it."""

    method: str
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    identity: str = ""  # the verified caller: a system certificate's URI and serial, or the access path
    peer: str = ""
    subject: dict[str, str] = field(default_factory=dict)  # dataset, agreement, purpose, referral... named
    status: str = ""
    detail: str = ""
    seq: int = 0

    def line(self) -> str:
        """One line for a terminal, every part escaped."""
        subject = " ".join(f"{k}={v}" for k, v in sorted(self.subject.items()))
        text = (
            f"{self.seq:>6}  {self.time}  {self.status:<17}  {self.method}  by {self.identity} ({self.peer})"
            + (f"  {subject}" if subject else "")
            + (f"  -- {self.detail}" if self.detail else "")
        )
        return escape_for_officer(text)


class CallLog:
    """The append-only call log of one node."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"no node call log at {self.path}")
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self._conn = sqlite3.connect(private_sqlite(self.path), check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def append(self, call: NodeCall) -> None:
        subject = {bounded(k, 64): bounded(v) for k, v in call.subject.items()}
        row = (
            bounded(call.time, 64),
            bounded(call.identity),
            bounded(call.peer),
            bounded(call.method),
            json.dumps(subject, ensure_ascii=False, sort_keys=True),
            bounded(call.status, 32),
            bounded(call.detail, 1024),
        )
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT INTO calls (time, identity, peer, method, subject, status, detail) VALUES (?,?,?,?,?,?,?)",
                    row,
                )
        except sqlite3.Error as exc:
            raise CallLogUnavailable(f"the node's call log cannot be written: {exc}") from None

    def calls(self, after: int = 0, limit: int | None = None) -> list[NodeCall]:
        query = (
            "SELECT seq, time, identity, peer, method, subject, status, detail FROM calls WHERE seq > ? ORDER BY seq"
        )
        params: tuple = (after,)
        if limit is not None:
            query = (
                "SELECT * FROM (SELECT seq, time, identity, peer, method, subject, status, detail FROM calls"
                " WHERE seq > ? ORDER BY seq DESC LIMIT ?) ORDER BY seq"
            )
            params = (after, limit)
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return [
            NodeCall(method, time, identity, peer, _subject(subject), status, detail, seq)
            for seq, time, identity, peer, method, subject, status, detail in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _subject(text: str) -> dict[str, str]:
    value = json.loads(text)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}
