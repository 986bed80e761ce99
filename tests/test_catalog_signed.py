"""Signed catalog publication (Art. 7), tried as a hostile publisher would: a new version is
published only with signatures over its exact bytes by mca's node certificate and by every
provider whose entries change, verified against the custodian CA and CRL; a typed name, a
missing, foreign, revoked or misplaced signature is refused with a message naming it. A
properly signed version is visible through the running matcher's Catalog service."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from aidlink.audit.open_store import open_audit_store
from aidlink.cli.main import main
from aidlink.database.url import sqlite_url
from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.identity import identity_from_pem
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.catalog_store import CatalogStore
from aidlink.v1 import catalog_pb2, catalog_pb2_grpc

DEFAULT_TEXT = resources.files("aidlink.matcher.data").joinpath("catalog.toml").read_text("utf-8")
# 2024.1 changes edu's entry only: mca and edu must sign.
EDU_CHANGE = DEFAULT_TEXT.replace('version = "2023.1"', 'version = "2024.1"').replace(
    'update_cycle = "per school term"', 'update_cycle = "monthly"'
)


class Keys:
    """A custodian CA and node directories (node.crt, node.key) issued by it."""

    def __init__(self, root: Path, ca: CertificateAuthority | None = None) -> None:
        self.root = root
        self.ca = ca or CertificateAuthority.create(root / "ca")
        (root / "ca.crt").write_bytes(self.ca.cert_pem)
        self.serials: dict[str, int] = {}

    def node(self, department: str, name: str | None = None) -> Path:
        directory = self.root / "nodes" / (name or department)
        issued = self.ca.issue_node(department, level="province", division_code="320000")
        issued.write(directory, "node", overwrite=True)
        self.serials[name or department] = issued.serial
        return directory

    def crl(self) -> Path:
        path = self.root / "crl.pem"
        path.write_bytes(self.ca.crl_pem())
        return path


@pytest.fixture
def keys(tmp_path):
    return Keys(tmp_path / "custody")


@pytest.fixture
def matcher_dir(tmp_path):
    """A matcher data directory whose store holds the bootstrap (embedded 2023.1)."""
    data = tmp_path / "matcher"
    data.mkdir()
    CatalogStore.open(data / "catalog.sqlite", seed=Catalog.load()).close()
    return data


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def sign(file: Path, node_dir: Path, out: Path) -> Path:
    assert main(["catalog", "sign", str(file), "--node-dir", str(node_dir), "--out", str(out)]) == 0
    return out


def publish(file: Path, data: Path, keys: Keys, *signatures: Path, extra=()) -> int:
    args = [
        "catalog",
        "publish",
        str(file),
        "--data-dir",
        str(data),
        "--ca-cert",
        str(keys.root / "ca.crt"),
        "--crl",
        str(keys.crl()),
    ]
    for s in signatures:
        args += ["--signature", str(s)]
    return main(args + list(extra))


def published_versions(data: Path) -> list[str]:
    store = CatalogStore(data / "catalog.sqlite")
    try:
        return store.versions()
    finally:
        store.close()


def test_a_typed_approval_or_no_signature_is_refused(tmp_path, keys, matcher_dir, capsys):
    file = write(tmp_path, "2024.toml", EDU_CHANGE)
    assert main(["catalog", "publish", str(file), "--data-dir", str(matcher_dir), "--approved-by", "mca"]) == 2
    assert "--approved-by is not accepted" in capsys.readouterr().err
    assert publish(file, matcher_dir, keys) == 1
    assert "2024.1 is not signed" in capsys.readouterr().err
    # the refusal is in the matcher's audit log (offline: recorded by the command itself)
    store = open_audit_store(sqlite_url(matcher_dir / "audit.sqlite"), read_only=True)
    try:
        [entry] = [row.entry for row in store.scan()]
    finally:
        store.close()
    assert (entry.method, entry.outcome, entry.status) == ("offline/catalog-publish", "refused", "PERMISSION_DENIED")
    assert "unsigned catalog" in entry.detail and "2024.1 is not signed" in entry.detail
    # a department name in a signature file is no signature either
    fake = write(tmp_path, "fake.sig", "mca")
    assert publish(file, matcher_dir, keys, fake) == 2
    assert "not an aidlink catalog signature" in capsys.readouterr().err
    assert published_versions(matcher_dir) == ["2023.1"]


def test_a_signature_by_another_department_than_mca_is_refused(tmp_path, keys, matcher_dir, capsys):
    file = write(tmp_path, "2024.toml", EDU_CHANGE)
    by_edu = sign(file, keys.node("edu"), tmp_path / "edu.sig")
    by_nhsa = sign(file, keys.node("nhsa"), tmp_path / "nhsa.sig")
    capsys.readouterr()
    assert publish(file, matcher_dir, keys, by_edu, by_nhsa) == 1
    err = capsys.readouterr().err
    assert "lacks the signature of mca (the lead department (Art. 7))" in err and "signed by: edu, nhsa" in err
    assert published_versions(matcher_dir) == ["2023.1"]


def test_a_changed_provider_entry_without_that_providers_signature_is_refused(tmp_path, keys, matcher_dir, capsys):
    file = write(tmp_path, "2024.toml", EDU_CHANGE)
    by_mca = sign(file, keys.node("mca"), tmp_path / "mca.sig")
    capsys.readouterr()
    assert publish(file, matcher_dir, keys, by_mca) == 1
    err = capsys.readouterr().err
    assert "lacks the signature of edu (entry edu.students changed)" in err
    assert "relative to published version 2023.1" in err
    assert published_versions(matcher_dir) == ["2023.1"]


def test_a_signature_by_a_revoked_certificate_is_refused(tmp_path, keys, matcher_dir, capsys):
    file = write(tmp_path, "2024.toml", EDU_CHANGE)
    by_mca = sign(file, keys.node("mca"), tmp_path / "mca.sig")
    by_edu = sign(file, keys.node("edu"), tmp_path / "edu.sig")
    keys.ca.revoke(keys.serials["mca"], "key_compromise")
    capsys.readouterr()
    assert publish(file, matcher_dir, keys, by_mca, by_edu) == 1
    err = capsys.readouterr().err
    assert "signature 1: certificate CN=mca.320000.node.aidlink" in err and "revoked at" in err
    assert "KEY_COMPROMISE" in err.upper()
    assert published_versions(matcher_dir) == ["2023.1"]


def test_a_certificate_of_another_ca_is_refused(tmp_path, keys, matcher_dir, capsys):
    file = write(tmp_path, "2024.toml", EDU_CHANGE)
    rogue = Keys(tmp_path / "rogue")  # a CA the custodian never set up, issuing "mca"
    by_rogue_mca = sign(file, rogue.node("mca"), tmp_path / "mca.sig")
    by_edu = sign(file, keys.node("edu"), tmp_path / "edu.sig")
    capsys.readouterr()
    assert publish(file, matcher_dir, keys, by_rogue_mca, by_edu) == 1
    assert "signature 1: certificate CN=mca.320000.node.aidlink" in capsys.readouterr().err
    assert published_versions(matcher_dir) == ["2023.1"]


def test_a_signature_over_different_bytes_is_refused(tmp_path, keys, matcher_dir, capsys):
    file = write(tmp_path, "2024.toml", EDU_CHANGE)
    by_mca = sign(file, keys.node("mca"), tmp_path / "mca.sig")
    by_edu = sign(file, keys.node("edu"), tmp_path / "edu.sig")
    # after signing, someone adds a column to mca's entry in the file
    tampered = write(
        tmp_path,
        "2024.toml",
        EDU_CHANGE.replace(
            '{ name = "dispersed", type = "boolean" },',
            '{ name = "dispersed", type = "boolean" },\n    { name = "urban", type = "boolean" },',
        ),
    )
    capsys.readouterr()
    assert publish(tampered, matcher_dir, keys, by_mca, by_edu) == 1
    err = capsys.readouterr().err
    assert "signature 1 (by mca" in err and "was made over different bytes" in err
    # the same, with the signature file's digest edited to match: the signature itself fails
    for sig in (by_mca, by_edu):
        data = json.loads(sig.read_text())
        data["catalog_sha256"] = hashlib.sha256(tampered.read_bytes()).hexdigest()
        sig.write_text(json.dumps(data))
    assert publish(tampered, matcher_dir, keys, by_mca, by_edu) == 1
    assert "does not verify over this file's bytes" in capsys.readouterr().err
    assert published_versions(matcher_dir) == ["2023.1"]


def test_a_catalog_listing_identifiers_cannot_be_signed_or_published(tmp_path, keys, matcher_dir, capsys):
    text = EDU_CHANGE.replace(
        '{ name = "assistance", type = "boolean" },',
        '{ name = "assistance", type = "boolean" },\n    { name = "name", type = "enum", values = ["x"] },\n'
        '    { name = "id_number", type = "integer", min = 0, max = 9 },',
    )
    file = write(tmp_path, "2024.toml", text)
    assert (
        main(["catalog", "sign", str(file), "--node-dir", str(keys.node("mca")), "--out", str(tmp_path / "mca.sig")])
        == 2
    )
    err = capsys.readouterr().err
    assert "lists person identifiers as attributes (edu.students: name; edu.students: id_number)" in err
    assert not (tmp_path / "mca.sig").exists()
    # signatures made over a clean file do not carry over to the edited one either
    clean = write(tmp_path, "clean.toml", EDU_CHANGE)
    sigs = [sign(clean, keys.node(d), tmp_path / f"{d}.sig") for d in ("mca", "edu")]
    clean.write_text(text, "utf-8")
    capsys.readouterr()
    assert publish(clean, matcher_dir, keys, *sigs) == 1
    assert "edu.students: name; edu.students: id_number" in capsys.readouterr().err
    assert published_versions(matcher_dir) == ["2023.1"]


def test_properly_signed_version_is_published_and_served_by_the_running_matcher(tmp_path, matcher_database_url, capsys):
    from aidlink.demo.loopback import LoopbackDeployment

    with LoopbackDeployment(tmp_path / "deploy", departments=("mca", "edu"), database_url=matcher_database_url) as d:
        keys = Keys(tmp_path / "deploy" / "custody", ca=d.ca)
        file = write(tmp_path, "2024.toml", EDU_CHANGE)
        sigs = [sign(file, d.nodes[dept].directory, tmp_path / f"{dept}.sig") for dept in ("mca", "edu")]
        location = (
            ["--database-url", matcher_database_url]
            if matcher_database_url
            else ["--data-dir", str(d.matcher.config.data_dir)]
        )
        capsys.readouterr()
        # The matcher is running: publish through its Catalog service (its own CA and CRL), not its files.
        remote = ["--matcher", d.matcher.address, "--node-dir", str(d.nodes["mca"].directory)]
        args = ["catalog", "publish", str(file), "--note", "term data monthly", *remote]

        # Hostile: mca alone publishes a version that changes edu's entry: refused naming edu, audited.
        before = len(d.audit_entries())
        assert main(args + ["--signature", str(sigs[0])]) == 1
        err = capsys.readouterr().err
        assert "PERMISSION_DENIED" in err and "unsigned catalog" in err and "edu" in err
        [refused] = [e for e in d.audit_entries()[before:] if e.method == "/aidlink.v1.Catalog/PublishCatalog"]
        assert (refused.outcome, refused.status, refused.department) == ("refused", "PERMISSION_DENIED", "mca")
        assert "unsigned catalog" in refused.detail and "edu" in refused.detail

        for s in sigs:
            args += ["--signature", str(s)]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "published catalog version 2024.1 (#2" in out and "signed by edu, mca" in out
        [allowed] = [
            e
            for e in d.audit_entries()[before:]
            if e.outcome == "allowed" and e.method == "/aidlink.v1.Catalog/PublishCatalog"
        ]
        assert allowed.datasets == ("catalog@2024.1",)

        stub = catalog_pb2_grpc.CatalogStub(d.nodes["edu"].server.channel)
        versions = stub.ListVersions(catalog_pb2.ListCatalogVersionsRequest()).versions
        assert [(v.version, list(v.approved_by)) for v in versions] == [("2023.1", ["mca"]), ("2024.1", ["edu", "mca"])]
        current = stub.GetCatalog(catalog_pb2.GetCatalogRequest())
        students = next(e for e in current.entries if e.id == "edu.students")
        assert current.info.version == "2024.1" and students.update_cycle == "monthly"
        stage = next(t for t in students.attribute_types if t.name == "school_stage")
        assert stage.type == "enum" and "primary" in stage.values

        # the stored signatures re-verify later; after mca's certificate is revoked they no longer do
        verify = ["catalog", "verify", "2024.1", "--ca-cert", str(keys.root / "ca.crt"), *location]
        assert main(verify + ["--crl", str(keys.crl())]) == 0
        assert "signed by mca" in capsys.readouterr().out
        d.ca.revoke(identity_from_pem((d.nodes["mca"].directory / "node.crt").read_bytes()).serial)
        assert main(verify + ["--crl", str(keys.crl())]) == 1
        assert "revoked" in capsys.readouterr().err


def test_publish_list_show_diff_on_the_matchers_postgresql_write_no_sqlite_file(tmp_path, keys, monkeypatch, capsys):
    from tests.support.postgres import postgres_unreachable, scratch_schema

    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path / "cwd"  # the default --data-dir (aidlink-data/matcher) is relative to here
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("AIDLINK_DATABASE_URL", raising=False)
    with scratch_schema() as url:
        CatalogStore.open(url, seed=Catalog.load()).close()  # the matcher's bootstrap, on PostgreSQL
        file = write(tmp_path, "2024.toml", EDU_CHANGE)
        sigs = [sign(file, keys.node(dept), tmp_path / f"{dept}.sig") for dept in ("mca", "edu")]
        capsys.readouterr()
        assert publish(file, workdir / "unused", keys, *sigs, extra=["--database-url", url]) == 0
        assert "published catalog version 2024.1 (#2" in capsys.readouterr().out
        assert main(["catalog", "list", "--database-url", url]) == 0
        assert [l.split("\t")[0] for l in capsys.readouterr().out.splitlines()] == ["2023.1", "2024.1"]
        assert main(["catalog", "show", "2024.1", "--entry", "edu.students", "--database-url", url]) == 0
        assert "update cycle: monthly" in capsys.readouterr().out
        assert main(["catalog", "diff", "2023.1", "2024.1", "--database-url", url]) == 0
        assert "update_cycle: 'per school term' -> 'monthly'" in capsys.readouterr().out
        assert (
            main(
                [
                    "catalog",
                    "verify",
                    "--database-url",
                    url,
                    "--ca-cert",
                    str(keys.root / "ca.crt"),
                    "--crl",
                    str(keys.crl()),
                ]
            )
            == 0
        )
        store = CatalogStore(url)
        try:
            assert store.versions() == ["2023.1", "2024.1"]
            with store.database.reading() as cur:  # the signatures are stored with the version
                cur.execute("SELECT version, source FROM catalog_publications")
                assert cur.fetchall() == [("2024.1", EDU_CHANGE)]
        finally:
            store.close()
    written = [str(p) for p in tmp_path.rglob("*") if p.suffix in (".sqlite", ".sqlite-wal", ".db")]
    assert written == [] and not (workdir / "aidlink-data").exists()
    # publish opens the matcher's core, whose data directory holds encodings only: nothing is written there
    assert [p for p in (workdir / "unused").rglob("*") if p.is_file()] == []


def test_signed_publications_are_immutable_in_the_database(tmp_path, keys, matcher_dir):
    import sqlite3

    file = write(tmp_path, "2024.toml", EDU_CHANGE)
    sigs = [sign(file, keys.node(dept), tmp_path / f"{dept}.sig") for dept in ("mca", "edu")]
    assert publish(file, matcher_dir, keys, *sigs) == 0
    for statement in ("UPDATE catalog_publications SET signatures='[]'", "DELETE FROM catalog_publications"):
        with pytest.raises(sqlite3.DatabaseError, match="immutable"):
            with sqlite3.connect(matcher_dir / "catalog.sqlite") as conn:
                conn.execute(statement)


def test_the_configured_catalog_bootstraps_only_an_empty_store(tmp_path, matcher_dir):
    from aidlink.matcher.catalog import CatalogError

    unsigned = Catalog.parse(EDU_CHANGE)
    with pytest.raises(CatalogError, match="configured catalog version 2024.1 is not published in this store"):
        CatalogStore.open(matcher_dir / "catalog.sqlite", seed=unsigned)
    assert published_versions(matcher_dir) == ["2023.1"]
    fresh = CatalogStore.open(tmp_path / "fresh.sqlite", seed=unsigned)
    try:
        assert fresh.versions() == ["2024.1"] and "trusted bootstrap" in fresh.published("2024.1").note
    finally:
        fresh.close()
