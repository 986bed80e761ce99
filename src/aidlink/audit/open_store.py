"""Open the audit store a database URL names: SQLite (the embedded default) or PostgreSQL."""

from __future__ import annotations

from aidlink.audit.store import AuditStoreError, SQLAuditStore
from aidlink.database.url import DatabaseUrlError, parse_database_url


def open_audit_store(url: str, read_only: bool = False) -> SQLAuditStore:
    """The audit store at `url` (``sqlite:///…`` or ``postgresql://…``), migrated unless `read_only`.

    Raises AuditStoreError naming the URL (password hidden) when it cannot be opened.
    """
    try:
        parsed = parse_database_url(url)
    except DatabaseUrlError as exc:
        raise AuditStoreError(f"audit store: {exc}") from None
    if parsed.dialect == "sqlite":
        assert parsed.path is not None  # a sqlite URL always names its file
        from aidlink.audit.sqlite_store import SQLiteAuditStore

        return SQLiteAuditStore(parsed.path, read_only=read_only)
    from aidlink.audit.postgres_store import PostgresAuditStore

    return PostgresAuditStore(parsed, read_only=read_only)
