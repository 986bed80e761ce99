"""Where a matcher store keeps its state: a shared `Database`, a database URL, or an SQLite file.

Every matcher store (datasets, monitoring, disputes, catalog) accepts any of the
three. A `Database` is shared and stays open when the store closes (its owner
closes it); a URL (``sqlite:///…``, ``postgresql://…``) or a file path opens a
`Database` that the store owns and closes. Opening migrates the store's
component (database.migrations) before it is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aidlink.database.connection import Database
from aidlink.database.migrations import Migration, migrate
from aidlink.database.url import sqlite_url

StateTarget = Database | str | Path


def open_state_database(
    target: StateTarget, component: str, migrations: Sequence[Migration], application_name: str = "aidlink-matcher"
) -> tuple[Database, bool]:
    """The database `target` names, migrated for `component`; and whether the caller owns (closes) it."""
    if isinstance(target, Database):
        database, owned = target, False
    else:
        text = str(target)
        url = text if "://" in text else sqlite_url(Path(text))
        database, owned = Database(url, application_name=application_name), True
    try:
        migrate(database, component, migrations)
    except BaseException:
        if owned:
            database.close()
        raise
    return database, owned


def serialize_writers(cur: Any, database: Database, key: str) -> None:
    """Inside a write transaction: wait for other writers holding `key` until this one ends.

    SQLite's ``BEGIN IMMEDIATE`` already serialises every writer; PostgreSQL (READ
    COMMITTED) takes a transaction-scoped advisory lock, so that read-then-insert
    steps such as "latest version + 1" do not race between matcher threads.
    """
    if database.dialect != "postgresql":
        return
    lock = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
