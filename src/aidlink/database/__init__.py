"""The matcher's database layer: URLs, connections and schema migrations (SQLite or PostgreSQL)."""

from aidlink.database.connection import Database, DatabaseUnavailable
from aidlink.database.migrations import Migration, SchemaError, migrate, require_current, schema_version
from aidlink.database.url import DatabaseUrl, DatabaseUrlError, parse_database_url, redact, sqlite_url

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "DatabaseUrl",
    "DatabaseUrlError",
    "Migration",
    "SchemaError",
    "migrate",
    "parse_database_url",
    "redact",
    "require_current",
    "schema_version",
    "sqlite_url",
]
