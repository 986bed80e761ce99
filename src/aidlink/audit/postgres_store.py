"""The PostgreSQL audit store: the portable SQL of audit.store over a `database.Database`.

The schema is migration-managed (audit.schema). UPDATE, DELETE and TRUNCATE of
entries and checkpoints are refused by triggers in the database; `grant_writer`
gives the matcher's own role only SELECT and INSERT, so that it cannot even drop
those triggers (only the schema owner can). Commits are durable when they return
(``synchronous_commit = on`` on every session). If the server goes away, the
write in progress fails (the audit log then refuses the call, fail-closed) and
the pool reconnects for the next one.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from aidlink.audit.schema import COMPONENT, MIGRATIONS
from aidlink.audit.store import AuditStoreError, SQLAuditStore
from aidlink.database.connection import Database, DatabaseUnavailable
from aidlink.database.migrations import SchemaError, migrate, require_current
from aidlink.database.url import DatabaseUrl

AUDIT_TABLES = ("audit_entries", "audit_checkpoints", "audit_cosignatures")
_ROLE = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


class PostgresAuditStore(SQLAuditStore):
    """Audit entries and checkpoints in a PostgreSQL database; `read_only` for officers' tools."""

    placeholder = "%s"

    @property
    def location(self) -> str:
        return str(self.database.url)

    def __init__(
        self, url: str | DatabaseUrl, read_only: bool = False, pool_size: int = 4, timeout: float = 10.0
    ) -> None:
        try:
            self.database = Database(
                url, read_only=read_only, pool_size=pool_size, timeout=timeout, application_name="aidlink-audit"
            )
        except DatabaseUnavailable as exc:
            raise AuditStoreError(str(exc)) from None
        if self.database.dialect != "postgresql":
            self.database.close()
            raise AuditStoreError(
                f"{self.database.url} is not a PostgreSQL URL; open SQLite audit stores with SQLiteAuditStore"
            )
        self.read_only = read_only
        try:
            if read_only:
                require_current(self.database, COMPONENT, MIGRATIONS)
            else:
                migrate(self.database, COMPONENT, MIGRATIONS)
        except (SchemaError, *self.database.errors) as exc:  # type: ignore[misc]
            self.database.close()
            raise AuditStoreError(f"cannot open the audit store at {self.database.url}: {exc}") from None

    @property
    def path(self) -> str:
        """Where the log is, for messages (the URL without its password)."""
        return self.database.url.redacted()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Any]:
        with self._open(), self.database.transaction() as cur:
            yield cur

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        with self._open(), self.database.reading() as cur:
            yield cur

    @contextlib.contextmanager
    def _open(self) -> Iterator[None]:
        try:
            yield
        except DatabaseUnavailable as exc:
            raise AuditStoreError(f"audit store {self.path}: {exc}") from None

    def close(self) -> None:
        self.database.close()


def grant_writer(store: PostgresAuditStore, role: str) -> None:
    """Let `role` (the matcher's login role) append and read the log, and nothing more.

    Run as the schema owner. `role` gets SELECT and INSERT on the audit tables and
    loses UPDATE, DELETE and TRUNCATE, so it is refused by privileges before the
    triggers are even reached, and it cannot drop the triggers (not the owner).
    """
    if not _ROLE.fullmatch(role):
        raise ValueError(f"role name {role!r} must be a lower-case SQL identifier (letters, digits, _)")
    tables = ", ".join(AUDIT_TABLES)
    with store._writing() as cur:
        cur.execute("SELECT current_schema()")
        (schema,) = cur.fetchone()
        cur.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        cur.execute(f"GRANT SELECT ON schema_migrations TO {role}")
        cur.execute(f"GRANT SELECT, INSERT ON {tables} TO {role}")
        cur.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM {role}")
