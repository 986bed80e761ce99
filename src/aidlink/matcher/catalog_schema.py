"""The catalog store's schema, as numbered migrations of the ``catalog`` component.

Published catalog versions are immutable (Art. 7), enforced in the database:
SQLite BEFORE UPDATE/DELETE triggers (SQLite has no TRUNCATE); PostgreSQL row
triggers that raise on UPDATE and DELETE and a statement trigger that raises on
TRUNCATE. The SQLite script of migration 1 is the schema written before
migrations existed, so existing ``catalog.sqlite`` files are adopted unchanged.
Never edit a released migration: add the next one.
"""

from __future__ import annotations

from aidlink.database.append_only import postgres_append_only
from aidlink.database.migrations import Migration

COMPONENT = "catalog"

SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS catalog_versions (
    version TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    published_at REAL NOT NULL,
    approved_by TEXT NOT NULL,
    note TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS catalog_versions_no_update BEFORE UPDATE ON catalog_versions
BEGIN SELECT RAISE(ABORT, 'published catalog versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS catalog_versions_no_delete BEFORE DELETE ON catalog_versions
BEGIN SELECT RAISE(ABORT, 'published catalog versions are immutable'); END;
"""

POSTGRESQL_V1 = """
CREATE TABLE catalog_versions (
    version TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE CHECK (seq >= 1),
    published_at DOUBLE PRECISION NOT NULL,
    approved_by TEXT NOT NULL,
    note TEXT NOT NULL,
    document TEXT NOT NULL
);
""" + postgres_append_only(
    "catalog_versions_immutable", "published catalog versions are immutable", ["catalog_versions"]
)

# Migration 2: how each version after the bootstrap was published: the exact TOML file its
# signers signed and their signatures (certificate + signature, JSON), so that a published
# version can be re-verified later. Append-only like the versions themselves.
SQLITE_V2 = """
CREATE TABLE catalog_publications (
    version TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    signatures TEXT NOT NULL
);
CREATE TRIGGER catalog_publications_no_update BEFORE UPDATE ON catalog_publications
BEGIN SELECT RAISE(ABORT, 'published catalog versions are immutable'); END;
CREATE TRIGGER catalog_publications_no_delete BEFORE DELETE ON catalog_publications
BEGIN SELECT RAISE(ABORT, 'published catalog versions are immutable'); END;
"""

POSTGRESQL_V2 = """
CREATE TABLE catalog_publications (
    version TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    signatures TEXT NOT NULL
);
""" + postgres_append_only(
    "catalog_publications_immutable", "published catalog versions are immutable", ["catalog_publications"]
)

MIGRATIONS = (
    Migration(1, "published catalog versions, immutable", {"sqlite": SQLITE_V1, "postgresql": POSTGRESQL_V1}),
    Migration(
        2,
        "signed catalog publications (source file and signatures)",
        {"sqlite": SQLITE_V2, "postgresql": POSTGRESQL_V2},
    ),
)
