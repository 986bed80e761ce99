"""The node's private map from the opaque references it sends to the matcher
back to its own record ids. Lives only on the department's node.

A reference is "<upload tag>.<row>", the tag random per upload, so it says
nothing about the record and never collides across uploads.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from aidlink.gateway.state_files import private_sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (tag TEXT PRIMARY KEY, dataset TEXT NOT NULL, version INTEGER,
                                    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS refs (tag TEXT NOT NULL, row INTEGER NOT NULL, record_id TEXT NOT NULL,
                                 PRIMARY KEY (tag, row));
"""


def reference(tag: str, row: int) -> str:
    """The reference of the `row`-th (0-based) record of upload `tag`."""
    return f"{tag}.{row}"


class UnknownReference(LookupError):
    pass


class ReferenceMap:
    def __init__(self, path: Path | str) -> None:
        self._conn = sqlite3.connect(private_sqlite(path), check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._cache: dict[str, list[str]] = {}

    @staticmethod
    def new_tag() -> str:
        return secrets.token_hex(6)

    def save(self, tag: str, dataset: str, version: int, record_ids: Sequence[str]) -> None:
        """Record an upload the matcher accepted: row i of tag `tag` is record_ids[i]."""
        with self._lock, self._conn:
            self._conn.execute("INSERT INTO uploads (tag, dataset, version) VALUES (?,?,?)", (tag, dataset, version))
            self._conn.executemany(
                "INSERT INTO refs (tag, row, record_id) VALUES (?,?,?)",
                ((tag, i, rid) for i, rid in enumerate(record_ids)),
            )

    def resolve(self, ref: str) -> str:
        tag, _, row = ref.partition(".")
        ids = self._cache.get(tag)
        if ids is None:
            with self._lock:
                rows = self._conn.execute("SELECT record_id FROM refs WHERE tag=? ORDER BY row", (tag,)).fetchall()
            if not rows:
                raise UnknownReference(f"reference {ref!r} was not issued by this node")
            ids = [r[0] for r in rows]
            self._cache = {tag: ids}
        try:
            return ids[int(row)]
        except (ValueError, IndexError):
            raise UnknownReference(f"reference {ref!r} was not issued by this node") from None

    def close(self) -> None:
        self._conn.close()
