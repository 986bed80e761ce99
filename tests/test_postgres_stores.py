"""The matcher's stores (datasets, monitoring, catalog) on one code path over SQLite and
a real PostgreSQL: the same calls give the same answers, state survives reopening,
migrations are recorded per component, and the catalog is immutable in the database."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from aidlink.database.connection import Database
from aidlink.database.migrations import schema_version
from aidlink.database.url import sqlite_url
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.catalog_store import CatalogImmutable, CatalogStore
from aidlink.matcher.datasets import DatasetNotFound, DatasetStore, EncodingSpec
from aidlink.matcher.monitoring.store import MonitoringStore, NewWarning
from tests.support.catalog_signing import CatalogSigners
from tests.support.postgres import postgres_unreachable, scratch_schema

_UNREACHABLE = postgres_unreachable()
SPEC = EncodingSpec(bits=64, secret_version=1, schema_fingerprint="f" * 64)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "state.sqlite")
        return
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    with scratch_schema() as scratch:
        yield scratch


def upload(store: DatasetStore, department: str, name: str, rows: int, keys: bool = False):
    w = store.writer(department, name, f"{department}.{name}", "2023.1", SPEC, ["category"])
    for i in range(rows):
        w.add(
            f"{name}.{i}",
            bytes([i % 256]) * 8,
            {"category": "低保" if i % 2 else "特困"},
            [i.to_bytes(8, "little")] if keys else (),
        )
    return w.commit()


def test_dataset_versions_records_and_encodings_survive_reopening(url, tmp_path):
    store = DatasetStore(tmp_path / "data", url)
    first = upload(store, "mca", "low-income", 5)
    second = upload(store, "mca", "low-income", 3, keys=True)
    other = upload(store, "edu", "students", 2)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert store.meta_by_id(first.id) == first and store.meta_by_id(second.id) == second
    with pytest.raises(DatasetNotFound, match="no dataset version with id 999999"):
        store.meta_by_id(999999)
    store.close()

    reopened = DatasetStore(tmp_path / "data", url)  # same database, same data directory
    try:
        assert reopened.latest("mca", "low-income") == second
        assert [m.qualified_name for m in reopened.list_latest()] == ["edu/students", "mca/low-income"]
        loaded = reopened.load(reopened.meta_by_id(first.id))
        assert loaded.refs == [f"low-income.{i}" for i in range(5)]
        assert loaded.attributes[1] == {"category": "低保"}
        assert bytes(loaded.encodings[4]) == bytes([4]) * 8
        assert reopened.load(second).blocking is not None and second.blocking_keys == 3
        with pytest.raises(DatasetNotFound, match="nhsa/medical does not exist"):
            reopened.latest("nhsa", "medical")
    finally:
        reopened.close()


def test_concurrent_uploads_of_one_dataset_get_distinct_versions(url, tmp_path):
    store = DatasetStore(tmp_path / "data", url)
    errors: list[BaseException] = []
    ready = threading.Barrier(6)

    def commit() -> None:
        w = store.writer("mca", "low-income", "mca.low-income", "2023.1", SPEC, ["category"])
        for i in range(4):
            w.add(f"r.{i}", bytes(8), {"category": "低保"})
        ready.wait()  # all six commit at once
        try:
            w.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=commit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with store.database.reading() as cur:
            cur.execute("SELECT id, version FROM dataset_versions ORDER BY version")
            rows = cur.fetchall()
        assert [version for _, version in rows] == [1, 2, 3, 4, 5, 6]
        assert all(len(store.load(store.meta_by_id(vid)).refs) == 4 for vid, _ in rows)
    finally:
        store.close()


def test_a_data_directory_from_before_blocking_and_migrations_is_adopted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "matcher.sqlite") as conn:  # the pre-blocking, unversioned schema
        conn.executescript("""
            CREATE TABLE dataset_versions (id INTEGER PRIMARY KEY, department TEXT NOT NULL, name TEXT NOT NULL,
              version INTEGER NOT NULL, catalog_entry TEXT NOT NULL, catalog_version TEXT NOT NULL,
              bits INTEGER NOT NULL, secret_version INTEGER NOT NULL, schema_fingerprint TEXT NOT NULL,
              attributes TEXT NOT NULL, records INTEGER NOT NULL, created_at REAL NOT NULL,
              UNIQUE (department, name, version));
            CREATE TABLE records (dataset_version INTEGER NOT NULL, idx INTEGER NOT NULL, ref TEXT NOT NULL,
              attributes TEXT NOT NULL, PRIMARY KEY (dataset_version, idx));
            INSERT INTO dataset_versions VALUES (1, 'mca', 'old', 1, 'mca.old', '2023.1', 64, 1, 'fp', '[]', 0, 0);
        """)
    conn.close()
    store = DatasetStore(data)
    try:
        assert store.latest("mca", "old").blocking_keys == 0
        assert upload(store, "mca", "old", 2).version == 2
        assert schema_version(store.database, "datasets") == 2
    finally:
        store.close()


def test_warnings_history_nodes_referrals_and_inboxes(url):
    store = MonitoringStore(url)
    actor = ("mca", "aidlink://node/mca")
    ids = store.add_warnings(
        [
            NewWarning("r1", "2024.1", "illness", "red", "serious illness", "c-1", "320100", "nhsa/medical"),
            NewWarning("r2", "2024.1", "disaster", "yellow", "disaster", "c-2", "320900", "mem/disaster"),
        ],
        actor,
    )
    assert store.change_warning(ids[0], "new", "assigned", "county office", actor, "assign", "")
    assert not store.change_warning(ids[0], "new", "assigned", "x", actor, "assign", "")  # moved meanwhile
    assert [w.id for w in store.find_warnings(region_prefix="3201")] == [ids[0]]
    assert [w.id for w in store.find_warnings(levels=["yellow"], statuses=["new"])] == [ids[1]]
    assert store.remember_node("mca", "320000", "id-1", "PEM-1") and not store.remember_node(
        "mca", "320000", "id-1", "PEM-1"
    )
    assert store.remember_node("mca", "320100", "id-2", "PEM-2") and store.node("mca").certificate == "PEM-2"
    rid = store.add_referral(
        ids[0],
        "mca",
        "nhsa",
        "sent",
        "art16",
        "check",
        ("nhsa", "nhsa/medical", "m.1"),
        [["nhsa/medical", "m.1"]],
        warning_change=("assigned", "referred", actor, "refer"),
        enqueue=("nhsa", "referral", {"warning": ids[0]}),
    )
    assert store.update_referral(rid, "sent", "sent", disclosure=b"\x00sealed\xff")
    inbox = store.inbox("nhsa", 0, 10)
    assert [(i.kind, i.payload["referral_id"]) for i in inbox] == [("referral", rid)]
    assert store.acknowledge("nhsa", inbox[-1].seq) == [rid] and store.acknowledged("nhsa") == inbox[-1].seq
    store.save_pair_links(1, 2, 0.8, [(0, 1, 0.91), (2, 3, 0.85)])
    store.save_pair_links(1, 2, 0.8, [(0, 1, 0.93)])  # replaces, also the run's row
    build = store.replace_graph(
        [(1, 0, "c-1"), (2, 1, "c-1")],
        [("c-1", "h-1")],
        {
            "datasets": ["mca/low-income"],
            "records": 2,
            "clusters": 1,
            "linked_clusters": 1,
            "households": 1,
            "rule_set": "2024.1",
        },
    )
    store.close()

    reopened = MonitoringStore(url)
    try:
        assert [(e.action, e.to_status) for e in reopened.warning_events(ids[0])] == [
            ("raised", "new"),
            ("assign", "assigned"),
            ("refer", "referred"),
        ]
        referral = reopened.referral(rid)
        assert referral.status == "received" and referral.disclosure == b"\x00sealed\xff"
        assert referral.recipient_refs == [["nhsa/medical", "m.1"]]
        assert reopened.pair_links(1, 2, 0.8) == [(0, 1, 0.93)] and reopened.pair_links(1, 2, 0.9) is None
        assert reopened.cluster_members("c-1") == [(1, 0), (2, 1)]
        assert reopened.last_build()["id"] == build and reopened.last_build()["datasets"] == ["mca/low-income"]
        reopened.forget_pairs_except([1, 2])
        assert reopened.pair_links(1, 2, 0.8) is not None
        reopened.forget_pairs_except([1])
        assert reopened.pair_links(1, 2, 0.8) is None
    finally:
        reopened.close()


def test_published_catalog_versions_are_immutable_in_the_database(url, tmp_path):
    default = Catalog.load()
    store = CatalogStore.open(url, seed=default)
    try:
        assert store.versions() == [default.version] and store.published(default.version).seq == 1
        with store.database.reading() as cur:
            cur.execute("SELECT COUNT(*) FROM catalog_versions")
            assert cur.fetchone()[0] == 1
        for statement in ("UPDATE catalog_versions SET note = 'edited'", "DELETE FROM catalog_versions"):
            with pytest.raises(store.database.errors, match="immutable"):
                with store.database.transaction() as cur:
                    cur.execute(statement)
        if store.database.dialect == "postgresql":
            with pytest.raises(store.database.errors, match="immutable"):
                with store.database.transaction() as cur:
                    cur.execute("TRUNCATE catalog_versions")
        document = default.to_dict()
        document["entry"] = [{**document["entry"][0], "name": "renamed"}, *document["entry"][1:]]
        with pytest.raises(CatalogImmutable, match="cannot be changed"):
            store.publish(*CatalogSigners(tmp_path).publication(Catalog.from_dict(document, "changed"), ["mca"]))
    finally:
        store.close()
    reopened = CatalogStore.open(url, seed=default)  # survives a restart, not published twice
    try:
        assert reopened.versions() == [default.version]
        assert reopened.get().to_dict() == default.to_dict()
    finally:
        reopened.close()


def test_stores_share_one_database_and_record_their_migrations(url, tmp_path):
    with Database(url) as db:
        datasets, monitoring = DatasetStore(tmp_path / "data", db), MonitoringStore(db)
        catalog = CatalogStore.open(db, seed=Catalog.load())
        upload(datasets, "mca", "low-income", 2)
        for store in (datasets, monitoring, catalog):
            store.close()  # a shared Database stays open
        with db.reading() as cur:
            cur.execute("SELECT component, MAX(version) FROM schema_migrations GROUP BY component ORDER BY component")
            assert cur.fetchall() == [("catalog", 2), ("datasets", 2), ("monitoring", 1)]
            cur.execute("SELECT COUNT(*) FROM records")
            assert cur.fetchone()[0] == 2
