"""Database URLs: ``sqlite:///relative/file.sqlite``, ``sqlite:////absolute/file.sqlite``,
``postgresql://user:password@host:5432/dbname?options=-csearch_path%3Daidlink``.

SQLite paths follow the SQLAlchemy convention (three slashes, then the path; a
fourth slash makes it absolute). A PostgreSQL URL is handed to libpq as written
(every libpq parameter works: ``sslmode``, ``options``, ``application_name``, …);
it is only checked here, so that a mistake is reported before the first connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

Dialect = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql", "postgres")


class DatabaseUrlError(ValueError):
    """A database URL that names no database this program can open."""


@dataclass(frozen=True, repr=False)
class DatabaseUrl:
    """A parsed database URL: the dialect and what its driver connects to."""

    dialect: Dialect
    text: str
    path: Path | None = None  # SQLite: the database file
    conninfo: str | None = None  # PostgreSQL: the libpq connection string

    def redacted(self) -> str:
        """The URL with any password replaced by ``***``, for logs and error messages."""
        return redact(self.text)

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.redacted()!r})"


def redact(url: str) -> str:
    """`url` with the password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def sqlite_url(path: Path | str) -> str:
    """The URL of the SQLite file at `path` (made absolute)."""
    return f"sqlite:///{Path(path).resolve()}"


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse `url`; raises DatabaseUrlError naming what is wrong."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise DatabaseUrlError(
            f"database URL {redact(text)!r} has no scheme; use sqlite:///path/to/file.sqlite "
            "or postgresql://user@host:5432/dbname"
        )
    scheme = scheme.lower()
    if scheme == "sqlite":
        return _sqlite(text, rest)
    if scheme in POSTGRES_SCHEMES:
        return _postgresql(text)
    raise DatabaseUrlError(f"database URL scheme {scheme!r} is not supported; use sqlite or postgresql")


def _sqlite(text: str, rest: str) -> DatabaseUrl:
    if not rest.startswith("/"):
        raise DatabaseUrlError(
            f"SQLite URL {text!r} names a host; write sqlite:///relative/path or "
            "sqlite:////absolute/path (three slashes before the path)"
        )
    path_text, _, query = rest[1:].partition("?")
    if query:
        raise DatabaseUrlError(f"SQLite URL {text!r} has query parameters ({query!r}); none are supported")
    path_text = unquote(path_text)
    if not path_text or path_text.endswith("/") or path_text == ":memory:":
        raise DatabaseUrlError(
            f"SQLite URL {text!r} names no database file "
            "(an in-memory database cannot be shared by the matcher's connections)"
        )
    return DatabaseUrl("sqlite", text, path=Path(path_text))


def _postgresql(text: str) -> DatabaseUrl:
    # libpq parses the URL (psycopg is imported only when PostgreSQL is used).
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # pragma: no cover - depends on the installation
        raise DatabaseUrlError(
            "a PostgreSQL database URL needs the psycopg package: pip install 'aidlink[postgres]'"
        ) from None
    import psycopg

    try:
        params = conninfo_to_dict(text)
    except psycopg.ProgrammingError as exc:
        raise DatabaseUrlError(f"PostgreSQL URL {redact(text)!r} is not valid: {exc}") from None
    if not params.get("dbname"):
        raise DatabaseUrlError(
            f"PostgreSQL URL {redact(text)!r} names no database; "
            "add it after the host, e.g. postgresql://aidlink@db:5432/aidlink"
        )
    return DatabaseUrl("postgresql", text, conninfo=text)
