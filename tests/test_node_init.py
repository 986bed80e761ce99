"""`aidlink node init`: what the custodian issued, checked, becomes a node directory that
`aidlink gateway serve` accepts; every mix-up is refused before anything is written."""

from __future__ import annotations

import stat
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from aidlink.cli.main import main
from aidlink.gateway.node_setup import (
    IssuedFiles,
    NodeSetupError,
    check_node_credentials,
    check_node_directory,
    find_issued_files,
)
from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.linkage_secret import LinkageSecret
from tests.support.issued_node_files import issue_node_files as issue


@pytest.fixture(scope="module")
def custodian(tmp_path_factory):
    root = tmp_path_factory.mktemp("custodian")
    ca = CertificateAuthority.create(root / "ca")
    secret = LinkageSecret.generate(3)
    files = {d: issue(ca, secret, root / d, d) for d in ("edu", "mca")}
    files["expired"] = issue(
        ca, secret, root / "expired", "edu", not_before=datetime.now(UTC) - timedelta(days=30), validity_days=2
    )
    other = CertificateAuthority.create(root / "other-ca")
    files["foreign"] = issue(other, secret, root / "foreign", "edu")
    return files


def init_args(files: IssuedFiles, node_dir, department="edu", **override) -> list[str]:
    values = {
        "--ca": files.ca,
        "--cert": files.cert,
        "--key": files.key,
        "--secret": files.secret,
        "--crl": files.crl,
        **override,
    }
    argv = ["node", "init", "--department", department, "--node-dir", str(node_dir), "--matcher", "127.0.0.1:50051"]
    for flag, value in values.items():
        argv += [flag, str(value)]
    return argv


def test_node_init_lays_out_the_names_gateway_serve_expects(custodian, tmp_path, capsys):
    node = tmp_path / "nodes" / "edu"
    assert main(init_args(custodian["edu"], node, **{"--matcher-name": "matcher.example"})) == 0
    out = capsys.readouterr().out
    assert "aidlink://node/edu/province/320000" in out and "secret version 3" in out
    assert f"aidlink gateway serve --config {node / 'gateway.toml'}" in out
    assert "--catalog-entry edu.students" in out  # edu's one catalog entry, from the catalog
    assert (node / "node.crt").read_bytes() == custodian["edu"].cert.read_bytes()
    assert (node / "node.key").read_bytes() == custodian["edu"].key.read_bytes()
    assert stat.S_IMODE(node.stat().st_mode) == 0o700
    assert stat.S_IMODE((node / "node.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((node / "linkage-secret.sealed").stat().st_mode) == 0o600
    settings = tomllib.loads((node / "gateway.toml").read_text("utf-8"))
    assert settings == {
        "department": "edu",
        "node_dir": str(node.resolve()),
        "matcher": "127.0.0.1:50051",
        "matcher_name": "matcher.example",
    }
    assert check_node_directory(node, "edu").department == "edu"
    # a second init does not silently replace a node's key
    assert main(init_args(custodian["edu"], node)) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*init_args(custodian["edu"], node), "--force"]) == 0


@pytest.mark.parametrize(
    "case, expected",
    [
        ("mca cert as edu", "is the node certificate of mca (aidlink://node/mca/province/320000), not of edu"),
        ("key of another node", "is not the private key of"),
        ("secret sealed to another node", "ask the custodian to seal the secret to"),
        ("expired", "expired at"),
        ("another CA", "not issued by this CA"),
    ],
)
def test_check_node_credentials_refuses_each_mix_up(custodian, case, expected):
    edu, mca = custodian["edu"], custodian["mca"]
    files = {
        "mca cert as edu": mca,
        "key of another node": IssuedFiles(edu.ca, edu.cert, mca.key, edu.secret, edu.crl),
        "secret sealed to another node": IssuedFiles(edu.ca, edu.cert, edu.key, mca.secret, edu.crl),
        "expired": custodian["expired"],
        "another CA": IssuedFiles(edu.ca, custodian["foreign"].cert, custodian["foreign"].key, edu.secret, edu.crl),
    }[case]
    with pytest.raises(NodeSetupError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        check_node_credentials("edu", files)


def test_a_revoked_node_certificate_is_refused(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    files = issue(ca, LinkageSecret.generate(1), tmp_path / "edu", "edu")
    serial = next(r.serial for r in ca.issued())
    ca.revoke(serial, "key_compromise")
    (tmp_path / "edu" / "crl.pem").write_bytes(ca.crl_pem())
    with pytest.raises(NodeSetupError, match="revoked at"):
        check_node_credentials("edu", files)
    assert not (tmp_path / "node").exists()


def test_node_init_takes_the_custodians_directory_as_it_is(custodian, tmp_path, capsys):
    issued = custodian["edu"].cert.parent
    assert find_issued_files(issued) == custodian["edu"]
    node = tmp_path / "node"
    argv = ["node", "init", "--department", "edu", "--node-dir", str(node), "--matcher", "127.0.0.1:1"]
    assert main([*argv, "--issued", str(issued)]) == 0
    assert "crl.pem, linkage-secret.sealed (secret version 3)" in capsys.readouterr().out
    assert (node / "crl.pem").read_bytes() == custodian["edu"].crl.read_bytes()
    # a second certificate in the directory makes "the" node certificate ambiguous: named, not guessed
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    for f in (*issued.iterdir(), custodian["mca"].cert):
        (crowded / f.name).write_bytes(f.read_bytes())
    with pytest.raises(
        NodeSetupError,
        match=r"expected one node certificate \(\*\.crt\), found edu-320000\.crt, mca-320000\.crt; give --cert",
    ):
        find_issued_files(crowded)
    assert find_issued_files(crowded, cert=crowded / "edu-320000.crt").key == crowded / "edu-320000.key"
