"""`aidlink keys …` end to end through argparse, on real files."""

from __future__ import annotations

import argparse
import stat

import pytest

from aidlink.keys import CertificateAuthority, SecretStore, identity_from_pem, open_sealed
from aidlink.keys.cli import PASSPHRASE_ENVIRONMENT, register

PASSPHRASE = b"custody passphrase for tests"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="aidlink")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["keys", *argv])
    return args.func(args)


@pytest.fixture
def custody(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENVIRONMENT, PASSPHRASE.decode())
    path = tmp_path / "custody"
    assert run("init", "--custody", str(path)) == 0
    return path


def test_init_creates_ca_audit_key_and_first_secret(custody, capsys):
    assert (custody / "ca" / "ca.crt").exists()
    assert stat.S_IMODE((custody / "ca" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((custody / "audit" / "audit-signing.key").stat().st_mode) == 0o600
    assert (custody / "audit" / "audit-signing.pub.pem").exists()
    assert SecretStore(custody / "linkage-secrets").versions() == [1]
    assert (custody / ".gitignore").read_text() == "*\n"
    assert run("init", "--custody", str(custody)) == 1
    assert "refusing to re-initialise" in capsys.readouterr().err


def test_issue_seal_revoke_cycle(custody, tmp_path, capsys):
    out = tmp_path / "nodes"
    assert (
        run(
            "issue-node",
            "mca",
            "--level",
            "city",
            "--division-code",
            "320900",
            "--out",
            str(out),
            "--host",
            "mca.example",
            "--custody",
            str(custody),
        )
        == 0
    )
    cert, key = out / "mca-320900.crt", out / "mca-320900.key"
    assert identity_from_pem(cert.read_bytes()).uri == "aidlink://node/mca/city/320900"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (out / "ca.crt").read_bytes() == (custody / "ca" / "ca.crt").read_bytes()

    assert run("rotate-secret", "--custody", str(custody)) == 0
    sealed = tmp_path / "mca.sealed"
    assert (
        run("seal-secret", "--version", "1", "--cert", str(cert), "--out", str(sealed), "--custody", str(custody)) == 0
    )
    opened = open_sealed(sealed.read_bytes(), key.read_bytes(), cert.read_bytes())
    assert opened == SecretStore(custody / "linkage-secrets", PASSPHRASE).get(1)

    assert run("issue-matcher", "--out", str(out), "--custody", str(custody)) == 0
    capsys.readouterr()
    assert run("seal-secret", "--cert", str(out / "matcher.crt"), "--out", str(sealed), "--custody", str(custody)) == 1
    assert "is a matcher identity; accepted here: node" in capsys.readouterr().err

    serial = identity_from_pem(cert.read_bytes()).serial
    assert run("revoke", hex(serial), "--reason", "key_compromise", "--custody", str(custody)) == 0
    assert run("seal-secret", "--cert", str(cert), "--out", str(sealed), "--custody", str(custody)) == 1
    assert "revoked at" in capsys.readouterr().err
    crl_path = tmp_path / "ca.crl"
    assert run("crl", "--out", str(crl_path), "--custody", str(custody)) == 0
    assert b"X509 CRL" in crl_path.read_bytes()


def test_issue_node_bad_division_is_a_clear_error(custody, tmp_path, capsys):
    code = run(
        "issue-node",
        "mca",
        "--level",
        "province",
        "--division-code",
        "320900",
        "--out",
        str(tmp_path),
        "--custody",
        str(custody),
    )
    assert code == 1
    assert "'320900' is a city-level code, but level 'province' was given" in capsys.readouterr().err


def test_show_lists_without_key_material(custody, tmp_path, capsys):
    run("issue-officer", "zhao.min", "--out", str(tmp_path / "o"), "--custody", str(custody))
    secret = SecretStore(custody / "linkage-secrets", PASSPHRASE).get(1)
    capsys.readouterr()
    assert run("show", "--custody", str(custody)) == 0
    shown = capsys.readouterr().out
    assert "aidlink://officer/zhao.min" in shown
    assert "v1  created" in shown and secret.key_id in shown
    assert secret.key.hex() not in shown and "PRIVATE" not in shown


def test_passphrase_file_protects_everything(tmp_path, capsys):
    custody, passfile = tmp_path / "c", tmp_path / "pass"
    passfile.write_text("s3cret passphrase\n")
    assert run("init", "--custody", str(custody), "--passphrase-file", str(passfile)) == 0
    assert b"ENCRYPTED" in (custody / "ca" / "ca.key").read_bytes()
    assert b"ENCRYPTED" in (custody / "audit" / "audit-signing.key").read_bytes()
    CertificateAuthority.load(custody / "ca", b"s3cret passphrase")
    capsys.readouterr()
    assert run("issue-matcher", "--out", str(tmp_path / "m"), "--custody", str(custody)) == 1
    assert "passphrase-protected" in capsys.readouterr().err
    assert run("rotate-secret", "--custody", str(custody)) == 1
    assert run("rotate-secret", "--custody", str(custody), "--passphrase-file", str(passfile)) == 0
    assert run("show", "--custody", str(custody)) == 0
