"""Database URLs: which database they name, and clear refusals of the ones that name none."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidlink.database.url import DatabaseUrlError, parse_database_url, redact, sqlite_url


def test_sqlite_paths_follow_the_three_and_four_slash_convention():
    assert parse_database_url("sqlite:///data/matcher.sqlite").path == Path("data/matcher.sqlite")
    absolute = parse_database_url("sqlite:////var/lib/aidlink/matcher.sqlite")
    assert (absolute.dialect, absolute.path) == ("sqlite", Path("/var/lib/aidlink/matcher.sqlite"))
    assert parse_database_url("sqlite:///dir%20with%20space/a.sqlite").path == Path("dir with space/a.sqlite")


def test_sqlite_url_of_a_path_parses_back_to_the_absolute_path(tmp_path):
    target = tmp_path / "audit.sqlite"
    assert parse_database_url(sqlite_url(target)).path == target.resolve()


def test_postgresql_url_is_kept_for_libpq_with_its_parameters():
    url = "postgresql://aidlink:s3cret@db.internal:5432/aidlink?sslmode=verify-full&options=-csearch_path%3Dm"
    parsed = parse_database_url(url)
    assert (parsed.dialect, parsed.conninfo) == ("postgresql", url)
    assert parse_database_url("postgres://db/aidlink").dialect == "postgresql"


def test_password_never_appears_in_the_printed_url():
    parsed = parse_database_url("postgresql://aidlink:s3cret@db:5432/aidlink")
    for shown in (str(parsed), repr(parsed), parsed.redacted()):
        assert "s3cret" not in shown and "aidlink:***@db:5432" in shown
    assert redact("postgresql://db/aidlink") == "postgresql://db/aidlink"


@pytest.mark.parametrize(
    "url, message",
    [
        ("matcher.sqlite", "has no scheme"),
        ("mysql://db/aidlink", "scheme 'mysql' is not supported"),
        ("sqlite://host/file.sqlite", "names a host"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///:memory:", "names no database file"),
        ("sqlite:///a.sqlite?mode=ro", "has query parameters"),
        ("postgresql://db:5432/", "names no database"),
        ("postgresql://db/aidlink?sslmod=require", "is not valid"),
    ],
)
def test_urls_naming_no_usable_database_are_refused_with_the_reason(url, message):
    with pytest.raises(DatabaseUrlError, match=message):
        parse_database_url(url)


def test_refusal_of_a_postgresql_url_hides_its_password():
    with pytest.raises(DatabaseUrlError) as err:
        parse_database_url("postgresql://u:hunter2@db/aidlink?bogus=1")
    assert "hunter2" not in str(err.value)
