"""The matcher core (`matcher.core.MatcherCore`) on SQLite and on a real PostgreSQL: assembled
from one `MatcherSettings`, every use case works through it (upload, blocked compare, flag
marking results disputed, the monitoring graph on the same join backend), its state is where
it was left when it is opened again, and closing it — also after a failed start — leaves no
database session behind."""

from __future__ import annotations

import secrets
import time
from datetime import date

import pytest

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline, RowRefused, schema_fingerprint
from aidlink.gateway.synthetic import SyntheticPopulation, department_extract
from aidlink.matcher.core import MatcherCore, MatcherSettings
from aidlink.matcher.datasets import EncodingSpec
from tests.support.postgres import postgres_unreachable, scratch_schema

SECRET = b"test-core-secret-0123456789abcdef"
SCHEMA = LinkageSchema.default_chinese()
V3 = LinkageSchema.chinese_v3()
PURPOSE = "policy-delivery-check"  # nhsa -> mca, agreement art14-4b (no record filter)
_UNREACHABLE = postgres_unreachable()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """None: SQLite files in the data directory; else a PostgreSQL URL on a scratch schema."""
    if request.param == "sqlite":
        yield None
        return
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    with scratch_schema() as url:
        yield url


@pytest.fixture(scope="module")
def encoded():
    """Two departments' views of one population: (encoding, blocking tokens) per record."""
    return encode_sides(SCHEMA)


@pytest.fixture(scope="module")
def encoded_v3():
    """The same under the v3 schema: whole-vector Dice, the join backend's kind of comparison."""
    return encode_sides(V3)


def encode_sides(schema: LinkageSchema):
    population = SyntheticPopulation.generate(800, seed=17)
    node = RecordPipeline(schema, SECRET, 1, today=lambda: date(2025, 6, 30))
    sides = []
    for seed in (1, 2):
        records = []
        for row in department_extract(population, "nhsa", seed=seed).rows:
            try:
                encoding, person = node.encode_person(row)
            except RowRefused:
                continue
            records.append((encoding, node.blocking.tokens(person)))
        sides.append(records)
    return sides


def upload(core: MatcherCore, department: str, name: str, entry: str, records, schema=SCHEMA) -> int:
    writer = core.begin_upload(department, name, entry, "2023.1", EncodingSpec(1024, 1, schema_fingerprint(schema)), [])
    for i, (encoding, keys) in enumerate(records):
        assert core.add_record(writer, i, f"{name}-{i}", encoding, {}, keys) is None
    return writer.commit().version


def sessions(url: str | None, application_name: str) -> int:
    """Open PostgreSQL sessions of this application name (0 on SQLite: nothing to hold open)."""
    if url is None:
        return 0
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchone()[0]


def sessions_left(url: str | None, application_name: str, settle: float = 15.0) -> int:
    """Sessions of this application name still open once the server has had ``settle`` seconds to
    end them. A client closing its connection only sends PostgreSQL a Terminate message; the
    server's backend process exits (and leaves pg_stat_activity) a moment later, later still on
    a loaded machine (seen: one run in the 20-run loop). A leaked connection never leaves, so
    this returns its count after ``settle``; closed ones return 0 as soon as the server is done."""
    deadline = time.monotonic() + settle
    while (count := sessions(url, application_name)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def test_core_runs_every_use_case_keeps_its_state_and_closes(tmp_path, database_url, encoded):
    settings = MatcherSettings(data_dir=tmp_path / "matcher", database_url=database_url)
    name = f"core-test-{secrets.token_hex(4)}"
    mine, theirs = encoded
    mine = mine[: len(mine) // 3]  # a third of the population: within the agreement's volume limit
    with MatcherCore(settings, application_name=name) as core:
        if database_url:
            assert sessions(database_url, name) >= 1
        upload(core, "mca", "people", "mca.low-income", mine)
        version = upload(core, "nhsa", "medical", "nhsa.medical", theirs)
        result = core.compare("mca", "people", "nhsa/medical", PURPOSE, 0.0, False)
        assert result.blocked and len(result.matches) > 0.5 * len(mine)
        assert result.comparisons < len(mine) * len(theirs) / 10  # blocking did the work

        flagged = result.matches[0].ref
        dispute = core.flag("mca", "people", flagged, "nhsa/medical", PURPOSE, "the diagnosis is outdated")
        assert dispute.state == "open" and dispute.provider_dataset == "nhsa/medical"
        assert dispute.provider_version == version
        marked = core.compare("mca", "people", "nhsa/medical", PURPOSE, 0.0, False)
        assert [m.ref for m in marked.matches if m.disputed] == [flagged]

        summary = core.monitor.rebuild()  # the linkage graph over the same join path
        assert summary.linked_clusters == len(result.matches)
    assert sessions_left(database_url, name) == 0

    # Opened again from the same settings, the state is where it was left.
    with MatcherCore(settings, application_name=name) as core:
        again = core.compare("mca", "people", "nhsa/medical", PURPOSE, 0.0, False)
        assert [(m.ref, m.score) for m in again.matches] == [(m.ref, m.score) for m in marked.matches]
        assert [m.ref for m in again.matches if m.disputed] == [flagged]
        assert core.disputes.list("mca")[0].id == dispute.id
    assert sessions_left(database_url, name) == 0


def test_monitoring_and_flags_use_the_configured_join_backend(tmp_path, encoded_v3):
    """Without blocking keys the exhaustive join runs on the join backend the settings name, for
    the monitoring graph and a flag as for a compare: the backend's per-dataset metrics show it.
    (A whole-vector schema: v2's missing-aware join runs in process, see matcher.join.)"""
    mine, theirs = ([(encoding, []) for encoding, _ in side[:200]] for side in encoded_v3)
    with MatcherCore(MatcherSettings(data_dir=tmp_path / "matcher")) as core:
        upload(core, "mca", "people", "mca.low-income", mine, V3)
        upload(core, "nhsa", "medical", "nhsa.medical", theirs, V3)

        def joined(dataset: str) -> float:
            value = core.registry.get_sample_value(
                "aidlink_join_partition_seconds_count", {"backend": "local", "dataset": dataset}
            )
            return value or 0.0

        core.monitor.rebuild()
        assert joined("nhsa/medical@v1") >= 1  # the graph's mca x nhsa pair, on the backend
        before = joined("nhsa/medical@v1")
        result = core.compare("mca", "people", "nhsa/medical", PURPOSE, 0.0, False)
        assert not result.blocked and result.matches
        core.flag("mca", "people", result.matches[0].ref, "nhsa/medical", PURPOSE, "doubtful")
        assert joined("nhsa/medical@v1") == before + 2  # the compare and the flag's status query


def test_a_failed_start_closes_what_it_opened(tmp_path, database_url):
    name = f"core-fail-{secrets.token_hex(4)}"
    settings = MatcherSettings(
        data_dir=tmp_path / "matcher", database_url=database_url, dask_tls_ca=tmp_path / "ca.crt"
    )  # Dask TLS without the Dask backend
    with pytest.raises(ValueError, match="dask_tls_ca set but join_backend is 'local'"):
        MatcherCore(settings, application_name=name)
    assert sessions_left(database_url, name) == 0
    with MatcherCore(MatcherSettings(data_dir=tmp_path / "matcher", database_url=database_url)) as core:
        assert core.store.list_latest() == []  # the failed start left nothing half-made
