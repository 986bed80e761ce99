"""The node's private map from the opaque references it sends to the matcher
back to its own record ids. Lives only on the department's node.

A reference is "<upload tag>.<token>": the tag random per upload (never collides across
uploads), the token a keyed pseudorandom function of the tag and the record's place in the
upload (HMAC-SHA256 under a key derived from the linkage secret), so it reveals neither the
record nor the extract's row order; the node keeps the map. References of uploads made before
tokens were introduced ("<tag>.<row>") still resolve.
"""

from __future__ import annotations

import hashlib
import hmac
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
CREATE TABLE IF NOT EXISTS opaque_refs (ref TEXT PRIMARY KEY, tag TEXT NOT NULL, record_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS opaque_refs_tag ON opaque_refs (tag);
"""
TOKEN_BYTES = 10
# Tags and tokens are written in the letters a-p (four bits each) rather than hex digits: a random
# hex string holds 8-digit runs that read as birth dates or ID fragments, which no scan of what
# crosses the wire could tell from a leak (tests/test_privacy_wire.py searches for exactly those).
_LETTERS = bytes.maketrans(b"0123456789abcdef", b"abcdefghijklmnop")


def _letters(raw: bytes) -> str:
    return raw.hex().encode().translate(_LETTERS).decode()


def reference(tag: str, row: int, key: bytes) -> str:
    """The reference of the `row`-th (0-based) record of upload `tag`: the tag and a keyed token."""
    token = hmac.new(key, f"{tag}.{row}".encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
    return f"{tag}.{_letters(token)}"


class UnknownReference(LookupError):
    pass


class ReferenceMap:
    def __init__(self, path: Path | str) -> None:
        self._conn = sqlite3.connect(private_sqlite(path), check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, str]] = {}

    @staticmethod
    def new_tag() -> str:
        return _letters(secrets.token_bytes(6))

    def save(self, tag: str, dataset: str, version: int, record_ids: Sequence[str], refs: Sequence[str]) -> None:
        """Record an upload the matcher accepted: reference refs[i] of tag `tag` is record_ids[i]."""
        if len(refs) != len(record_ids):
            raise ValueError(f"{len(refs)} references for {len(record_ids)} record ids")
        with self._lock, self._conn:
            self._conn.execute("INSERT INTO uploads (tag, dataset, version) VALUES (?,?,?)", (tag, dataset, version))
            self._conn.executemany(
                "INSERT INTO opaque_refs (ref, tag, record_id) VALUES (?,?,?)", zip(refs, [tag] * len(refs), record_ids)
            )

    def resolve(self, ref: str) -> str:
        tag, _, _ = ref.partition(".")
        ids = self._cache.get(tag)
        if ids is None:
            with self._lock:
                rows = self._conn.execute("SELECT ref, record_id FROM opaque_refs WHERE tag=?", (tag,)).fetchall()
                if not rows:  # an upload from before opaque references: "<tag>.<row>"
                    rows = self._conn.execute(
                        "SELECT tag || '.' || row, record_id FROM refs WHERE tag=?", (tag,)
                    ).fetchall()
            if not rows:
                raise UnknownReference(f"reference {ref!r} was not issued by this node")
            ids = dict(rows)
            self._cache = {tag: ids}
        try:
            return ids[ref]
        except KeyError:
            raise UnknownReference(f"reference {ref!r} was not issued by this node") from None

    def close(self) -> None:
        self._conn.close()
