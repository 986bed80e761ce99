"""Which database the integration tests' matcher keeps its state in.

``pytest --database=postgresql`` (or AIDLINK_TEST_DATABASE=postgresql) runs every
test that takes the `matcher_database_url` fixture against the PostgreSQL test
server (AIDLINK_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test),
each test module in its own scratch schema; the default is SQLite files in the
matcher's data directory. Asking for PostgreSQL when the server is down fails
(it does not skip), so a PostgreSQL run cannot pass without PostgreSQL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DATABASES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=DATABASES,
        default=os.environ.get("AIDLINK_TEST_DATABASE", "sqlite"),
        help="where the integration tests' matcher keeps its state (default: sqlite, or $AIDLINK_TEST_DATABASE)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"matcher database: {config.getoption('--database')}"


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Each test leaves the root logger as it found it. A command run in process configures
    logging (handlers, level INFO for services); left in place, the next test would get the log
    lines of threads still running from earlier tests (a module's Dask scheduler, say) in its
    captured stderr, and a one-line-error assertion there would fail for nothing it did."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture(scope="module")
def matcher_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite files in the data directory) or a PostgreSQL URL whose sessions use a fresh schema."""
    if request.config.getoption("--database") == "sqlite":
        yield None
        return
    from tests.support.postgres import postgres_unreachable, scratch_schema

    reason = postgres_unreachable()
    if reason:
        pytest.fail(f"--database=postgresql: {reason}")
    with scratch_schema() as url:
        yield url


@pytest.fixture(scope="session")
def audit_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit signing key (unencrypted, tests only) for matchers the tests start: a matcher
    refuses to start without one unless it is a development one (--insecure-dev)."""
    from aidlink.keys.audit_key import AuditSigningKey

    path = tmp_path_factory.mktemp("audit-key") / "audit-signing.key"
    AuditSigningKey.create(path)
    return path


@pytest.fixture
def stored_matcher_state() -> Callable[[object], dict[str, bytes]]:
    """What a deployment's matcher stores at rest: its data directory's files and, on
    PostgreSQL, every table of its schema (as COPY text), by name."""

    def state(deployment) -> dict[str, bytes]:
        cfg = deployment.matcher.config
        stored = {
            str(p.relative_to(cfg.data_dir)): p.read_bytes() for p in Path(cfg.data_dir).rglob("*") if p.is_file()
        }
        if cfg.database_url and cfg.database_url.startswith("postgres"):
            stored.update(_postgres_tables(cfg.database_url))
        return stored

    return state


def _postgres_tables(url: str) -> dict[str, bytes]:
    import psycopg

    tables: dict[str, bytes] = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        for (name,) in cur.fetchall():
            with cur.copy(f'COPY "{name}" TO STDOUT') as copy:
                tables[f"table {name}"] = b"".join(bytes(block) for block in copy)
    return tables
