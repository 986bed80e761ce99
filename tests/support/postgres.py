"""Throwaway PostgreSQL schemas for tests: each test gets its own, dropped afterwards.

The server is named by AIDLINK_TEST_POSTGRES_URL (default: the local server,
``postgresql://postgres@127.0.0.1:5432/test``). Tests skip, with the reason,
only when that server cannot be reached.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import quote

from aidlink.database.url import redact

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_test_url() -> str:
    return os.environ.get("AIDLINK_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)


def postgres_unreachable() -> str | None:
    """Why the test PostgreSQL server cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    url = postgres_test_url()
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {redact(url)} is unreachable: {str(exc).strip()}"
    return None


def with_search_path(url: str, schema: str) -> str:
    """`url` with its sessions' search_path set to `schema` (libpq ``options``)."""
    option = quote(f"-csearch_path={schema}", safe="")
    return f"{url}{'&' if '?' in url else '?'}options={option}"


@contextlib.contextmanager
def scratch_schema(url: str | None = None, prefix: str = "aidlink_test") -> Iterator[str]:
    """A new, empty schema on the test server; yields a URL whose sessions use it. Dropped on exit."""
    import psycopg

    base = url or postgres_test_url()
    schema = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
