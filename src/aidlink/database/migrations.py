"""Numbered schema migrations per component, recorded in a ``schema_migrations`` table.

Each component (``audit``, ``datasets``, …) owns a list of migrations numbered
1, 2, 3, … Opening a store runs `migrate`: in one transaction, under a lock
that other processes migrating the same database wait on, every migration not
yet applied is run and recorded with a checksum of its SQL. A migration already
applied whose SQL has since changed, or a database migrated by a newer aidlink
(a version this code does not know), stops the store from opening.

A migration is SQL shared by both dialects, SQL per dialect, or a function
``step(cursor, database)`` for what SQL alone cannot say (e.g. adding a column
only where an unversioned older file lacks it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aidlink.database.connection import Database

Step = str | Callable[[Any, Database], None]

SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
)"""
# pg_advisory_xact_lock key: serialises migrators of one PostgreSQL database (SQLite: BEGIN IMMEDIATE).
MIGRATION_LOCK = 0x61696C6B  # "ailk"


class SchemaError(RuntimeError):
    """The database schema is not one this code can use (changed, newer, or not yet migrated)."""


@dataclass(frozen=True)
class Migration:
    """One schema change of a component: `sql` for every dialect, or a mapping dialect -> step."""

    version: int
    name: str
    sql: Step | Mapping[str, Step]

    def step(self, dialect: str) -> Step:
        if isinstance(self.sql, Mapping):
            try:
                return self.sql[dialect]
            except KeyError:
                raise SchemaError(f"migration {self.version} ({self.name}) has no step for {dialect}") from None
        return self.sql

    def checksum(self, dialect: str) -> str:
        step = self.step(dialect)
        text = step if isinstance(step, str) else f"{step.__module__}.{step.__qualname__}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_numbering(component: str, migrations: Sequence[Migration]) -> None:
    """Migrations must be numbered 1, 2, 3, … in order."""
    for expected, m in enumerate(migrations, start=1):
        if m.version != expected:
            raise SchemaError(
                f"{component} migrations must be numbered 1, 2, 3, … in order; "
                f"position {expected} holds version {m.version} ({m.name})"
            )


def _applied(db: Database, cur: Any, component: str) -> dict[int, tuple[str, str]]:
    cur.execute(db.sql("SELECT version, name, checksum FROM schema_migrations WHERE component = ?"), (component,))
    return {int(v): (name, checksum) for v, name, checksum in cur.fetchall()}


def _check_applied(
    db: Database, component: str, migrations: Sequence[Migration], applied: Mapping[int, tuple[str, str]]
) -> None:
    known = {m.version: m for m in migrations}
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise SchemaError(
            f"the {component} schema in {db.url} is at version {max(applied)}, "
            f"but this aidlink knows versions up to {len(migrations)}: "
            "it was migrated by a newer aidlink; run that version"
        )
    for version, (name, checksum) in sorted(applied.items()):
        if checksum != known[version].checksum(db.dialect):
            raise SchemaError(
                f"{component} migration {version} ({name}) applied to {db.url} differs from "
                "this aidlink's migration of that number: the migration was edited after "
                "it was released; add a new migration instead"
            )


def migrate(db: Database, component: str, migrations: Sequence[Migration]) -> list[int]:
    """Apply the migrations of `component` not yet applied; returns the versions applied now."""
    check_numbering(component, migrations)
    done: list[int] = []
    with db.transaction() as cur:
        if db.dialect == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute(SCHEMA_MIGRATIONS)
        applied = _applied(db, cur, component)
        _check_applied(db, component, migrations, applied)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for m in migrations:
            if m.version in applied:
                continue
            step = m.step(db.dialect)
            try:
                if isinstance(step, str):
                    db.run_script(cur, step)
                else:
                    step(cur, db)
            except db.errors as exc:
                raise SchemaError(
                    f"{component} migration {m.version} ({m.name}) failed on {db.url}: {str(exc).strip()}"
                ) from exc
            cur.execute(
                db.sql(
                    "INSERT INTO schema_migrations (component, version, name, checksum, applied_at) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (component, m.version, m.name, m.checksum(db.dialect), now),
            )
            done.append(m.version)
    return done


def schema_version(db: Database, component: str) -> int:
    """The highest migration applied for `component` (0: none, or no schema_migrations table)."""
    with db.reading() as cur:
        try:
            cur.execute(
                db.sql("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?"), (component,)
            )
        except db.errors:
            return 0
        return int(cur.fetchone()[0])


def require_current(db: Database, component: str, migrations: Sequence[Migration]) -> None:
    """For read-only use: the schema must be exactly what these migrations make."""
    version = schema_version(db, component)
    if version < len(migrations):
        raise SchemaError(
            f"the {component} schema in {db.url} is at version {version}, this aidlink needs "
            f"{len(migrations)}; start the matcher once (it migrates) before reading it"
        )
    with db.reading() as cur:
        applied = _applied(db, cur, component)
    _check_applied(db, component, migrations, applied)
