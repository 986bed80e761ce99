"""Custody keys encrypted at rest by default, and linkage secret files read strictly.

Attacked as a careless operator and a thief of the custody directory would: `aidlink keys init`
with no passphrase, the custody files read without it, a wrong passphrase, a department password
or the custody's own JSON handed to `aidlink encode --secret-file` / `aidlink gateway serve`.
Everything goes through the real CLI (`aidlink.cli.main.main`) on real files.
"""

from __future__ import annotations

import base64
import json
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from aidlink.cli.main import main
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.keys import AuditKeyError, AuditSigningKey, CertificateAuthority, CertificateAuthorityError, SecretStore

PASSPHRASE_ENVIRONMENT = "AIDLINK_CUSTODY_PASSPHRASE"
PASSPHRASE = "correct horse battery staple"


def keys(*argv: str) -> int:
    return main(["keys", *argv])


def files_under(directory):
    return [p for p in directory.rglob("*") if p.is_file()]


@pytest.fixture
def protected_custody(tmp_path, monkeypatch, capsys):
    """A custody made the default way, with the passphrase in the environment, then the variable unset."""
    monkeypatch.setenv(PASSPHRASE_ENVIRONMENT, PASSPHRASE)
    custody = tmp_path / "custody"
    assert keys("init", "--custody", str(custody)) == 0
    assert "passphrase-protected" in capsys.readouterr().out
    monkeypatch.delenv(PASSPHRASE_ENVIRONMENT)
    return custody


# -- encrypted at rest by default -------------------------------------------------------------


def test_init_without_any_passphrase_is_refused_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(PASSPHRASE_ENVIRONMENT, raising=False)
    custody = tmp_path / "custody"
    assert keys("init", "--custody", str(custody)) == 1
    err = capsys.readouterr().err
    assert "encrypted at rest" in err and "--passphrase-file" in err and PASSPHRASE_ENVIRONMENT in err
    assert "--unprotected" in err and "Traceback" not in err
    assert not custody.exists() or not files_under(custody)


def test_default_custody_holds_no_key_readable_without_the_passphrase(protected_custody):
    custody = protected_custody
    for key_file in (custody / "ca" / "ca.key", custody / "audit" / "audit-signing.key"):
        pem = key_file.read_bytes()
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), key_file
        with pytest.raises(TypeError, match="encrypted"):
            serialization.load_pem_private_key(pem, password=None)
    with pytest.raises(CertificateAuthorityError, match="passphrase-protected"):
        CertificateAuthority.load(custody / "ca")
    with pytest.raises(AuditKeyError, match="passphrase-protected"):
        AuditSigningKey.load(custody / "audit" / "audit-signing.key")

    record = json.loads((custody / "linkage-secrets" / "v000001.json").read_text())
    assert record["protection"] == "scrypt+aes-256-gcm" and "key" not in record
    secret = SecretStore(custody / "linkage-secrets", PASSPHRASE.encode()).get(1)
    # The key is nowhere in the custody directory, raw or in base64.
    for path in files_under(custody):
        data = path.read_bytes()
        assert secret.key not in data and base64.b64encode(secret.key) not in data, path


def test_the_passphrase_can_come_from_a_prompt_on_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(PASSPHRASE_ENVIRONMENT, raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or PASSPHRASE)
    custody = tmp_path / "custody"
    assert keys("init", "--custody", str(custody)) == 0
    assert len(prompts) == 2 and "repeat" in prompts[1]  # typed twice when creating
    CertificateAuthority.load(custody / "ca", PASSPHRASE.encode())
    assert keys("rotate-secret", "--custody", str(custody)) == 0  # prompted again to open
    assert SecretStore(custody / "linkage-secrets", PASSPHRASE.encode()).versions() == [1, 2]


def test_unprotected_custody_needs_the_flag_and_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(PASSPHRASE_ENVIRONMENT, raising=False)
    custody = tmp_path / "custody"
    assert keys("init", "--custody", str(custody), "--unprotected") == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "UNENCRYPTED" in captured.err and str(custody) in captured.err
    assert "UNENCRYPTED" in captured.out
    assert b"ENCRYPTED" not in (custody / "ca" / "ca.key").read_bytes()
    assert json.loads((custody / "linkage-secrets" / "store.json").read_text())["protection"] == "none"
    # An unprotected custody is used without any passphrase.
    assert keys("rotate-secret", "--custody", str(custody)) == 0


def test_unprotected_and_a_passphrase_together_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(PASSPHRASE_ENVIRONMENT, PASSPHRASE)
    assert keys("init", "--custody", str(tmp_path / "custody"), "--unprotected") == 1
    assert "contradict" in capsys.readouterr().err
    assert not (tmp_path / "custody" / "ca").exists()


def test_a_wrong_passphrase_is_refused_clearly(protected_custody, tmp_path, monkeypatch, capsys):
    custody = protected_custody
    wrong = tmp_path / "wrong"
    wrong.write_text("Tr0ub4dor&3\n")
    assert keys("rotate-secret", "--custody", str(custody), "--passphrase-file", str(wrong)) == 1
    assert f"wrong passphrase for secret store {custody / 'linkage-secrets'}" in capsys.readouterr().err
    monkeypatch.setenv(PASSPHRASE_ENVIRONMENT, "Tr0ub4dor&3")
    assert keys("issue-matcher", "--out", str(tmp_path / "m"), "--custody", str(custody)) == 1
    err = capsys.readouterr().err
    assert "wrong passphrase for CA key" in err and "Traceback" not in err
    assert not (tmp_path / "m" / "matcher.key").exists()
    assert SecretStore(custody / "linkage-secrets").versions() == [1]


def test_a_protected_custody_without_its_passphrase_says_so(protected_custody, tmp_path, capsys):
    assert keys("issue-matcher", "--out", str(tmp_path / "m"), "--custody", str(protected_custody)) == 1
    assert "passphrase-protected" in capsys.readouterr().err


# -- linkage secret files read strictly ---------------------------------------------------------


@pytest.fixture(scope="module")
def extract_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("extract") / "mca.csv"
    department_extract(SyntheticPopulation.generate(60, seed=5), "mca", seed=5).write_csv(path)
    return path


def encode(extract_csv, output, secret_file, *extra: str) -> int:
    return main(
        [
            "encode",
            str(extract_csv),
            "-o",
            str(output),
            "--secret-file",
            str(secret_file),
            "--allow-unknown-columns",
            *extra,
        ]
    )


@pytest.mark.parametrize(
    "content",
    [
        b"my department password",
        b"my department password, made long enough to pass as 32+ key bytes\n",
        b'{"format": "aidlink-secret-store/1", "protection": "none"}',
        b'{"key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}',
    ],
    ids=["short-password", "long-password", "store-json", "json-without-format"],
)
def test_encode_refuses_a_file_that_is_not_a_linkage_secret(extract_csv, tmp_path, capsys, content):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_bytes(content)
    assert encode(extract_csv, tmp_path / "out.json", secret_file) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert str(secret_file) in lines[0]
    assert "expected a sealed linkage secret" in lines[0] and "aidlink-linkage-secret/1" in lines[0]
    assert not (tmp_path / "out.json").exists()


def test_encode_refuses_the_custodys_encrypted_version_file(protected_custody, extract_csv, tmp_path, capsys):
    version_file = protected_custody / "linkage-secrets" / "v000001.json"
    assert encode(extract_csv, tmp_path / "out.json", version_file) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(version_file) in err
    assert "encrypted in the custody store" in err and "aidlink keys seal-secret" in err
    assert not (tmp_path / "out.json").exists()


def test_a_sealed_secret_needs_the_node_key(protected_custody, extract_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(PASSPHRASE_ENVIRONMENT, PASSPHRASE)
    node = tmp_path / "node"
    c = str(protected_custody)
    assert (
        keys("issue-node", "mca", "--level", "city", "--division-code", "320900", "--out", str(node), "--custody", c)
        == 0
    )
    sealed = tmp_path / "mca.sealed"
    assert keys("seal-secret", "--cert", str(node / "mca-320900.crt"), "--out", str(sealed), "--custody", c) == 0
    capsys.readouterr()
    assert encode(extract_csv, tmp_path / "out.json", sealed) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"aidlink encode: --secret-file: {sealed} is a sealed linkage secret: give this node's private key to open it"
    )


def test_sealed_and_custody_version_files_encode_alike_with_their_version(tmp_path, extract_csv, monkeypatch, capsys):
    """Both accepted formats give the secret's real version (2 here, not a made-up 1) and the same encodings."""
    monkeypatch.delenv(PASSPHRASE_ENVIRONMENT, raising=False)
    custody, node = tmp_path / "custody", tmp_path / "node"
    c = str(custody)
    assert keys("init", "--custody", c, "--unprotected") == 0
    assert keys("rotate-secret", "--custody", c) == 0
    assert (
        keys("issue-node", "mca", "--level", "city", "--division-code", "320900", "--out", str(node), "--custody", c)
        == 0
    )
    sealed = tmp_path / "mca.sealed"
    assert keys("seal-secret", "--cert", str(node / "mca-320900.crt"), "--out", str(sealed), "--custody", c) == 0
    key_args = ("--node-key", str(node / "mca-320900.key"), "--node-cert", str(node / "mca-320900.crt"))
    assert encode(extract_csv, tmp_path / "sealed.json", sealed, *key_args) == 0
    assert encode(extract_csv, tmp_path / "plain.json", custody / "linkage-secrets" / "v000002.json") == 0
    from_sealed = json.loads((tmp_path / "sealed.json").read_text())
    from_version_file = json.loads((tmp_path / "plain.json").read_text())
    assert from_sealed["encoding"]["secret_version"] == 2
    assert from_sealed == from_version_file and len(from_sealed["clks"]) >= 5


def test_gateway_serve_refuses_a_node_secret_that_is_not_sealed(protected_custody, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(PASSPHRASE_ENVIRONMENT, PASSPHRASE)
    node = tmp_path / "node"
    c = str(protected_custody)
    assert (
        keys("issue-node", "edu", "--level", "city", "--division-code", "320900", "--out", str(node), "--custody", c)
        == 0
    )
    (node / "edu-320900.crt").rename(node / "node.crt")
    (node / "edu-320900.key").rename(node / "node.key")
    # An operator pastes the custody's version file (or a password) where the sealed secret belongs.
    secret_path = node / "linkage-secret.sealed"
    secret_path.write_bytes((protected_custody / "linkage-secrets" / "v000001.json").read_bytes())
    capsys.readouterr()
    code = main(["gateway", "serve", "--department", "edu", "--node-dir", str(node), "--matcher", "127.0.0.1:9"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"aidlink gateway serve: {secret_path} is not a linkage secret file: expected a sealed linkage " + (
        "secret (from `aidlink keys seal-secret`, opened with the node's key)"
    )
