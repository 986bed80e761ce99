"""The custodian's versioned master copy of the linkage secret."""

from __future__ import annotations

import json
import stat

import pytest

from aidlink.keys import (
    CertificateAuthority,
    CertificatePolicy,
    CertificateRejected,
    SecretStore,
    SecretStoreError,
    open_sealed,
)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rotation_gives_new_versions_and_old_ones_stay_retrievable(tmp_path):
    store = SecretStore(tmp_path / "secrets", unprotected=True)
    assert store.versions() == []
    first, second, third = store.rotate(), store.rotate(), store.rotate()
    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert len({first.key, second.key, third.key}) == 3

    reopened = SecretStore(tmp_path / "secrets")
    assert reopened.versions() == [1, 2, 3]
    assert reopened.current() == third
    assert reopened.get(1) == first
    assert reopened.get(2) == second
    assert [info.key_id for info in reopened.describe()] == [first.key_id, second.key_id, third.key_id]


def test_store_files_are_private(tmp_path):
    store = SecretStore(tmp_path / "secrets", unprotected=True)
    store.rotate()
    assert mode(tmp_path / "secrets") == 0o700
    for path in (tmp_path / "secrets").iterdir():
        assert mode(path) == 0o600, path


def test_empty_store_and_missing_version_errors(tmp_path):
    store = SecretStore(tmp_path / "secrets", unprotected=True)
    with pytest.raises(SecretStoreError, match="no linkage secret in .* yet"):
        store.current()
    store.rotate()
    with pytest.raises(SecretStoreError, match=r"no linkage secret version 9 in .* \(stored: \[1\]\)"):
        store.get(9)


def test_passphrase_protected_store(tmp_path):
    store = SecretStore(tmp_path / "secrets", b"custodian passphrase")
    secret = store.rotate()
    text = (tmp_path / "secrets" / "v000001.json").read_text()
    assert json.loads(text)["protection"] == "scrypt+aes-256-gcm"
    assert secret.key.hex() not in text and '"key"' not in text

    assert SecretStore(tmp_path / "secrets", b"custodian passphrase").get(1) == secret
    with pytest.raises(SecretStoreError, match="wrong passphrase"):
        SecretStore(tmp_path / "secrets", b"guess")
    locked = SecretStore(tmp_path / "secrets")
    assert [info.version for info in locked.describe()] == [1]
    with pytest.raises(SecretStoreError, match="passphrase-protected; give the passphrase to read version 1"):
        locked.get(1)
    with pytest.raises(SecretStoreError, match="passphrase-protected; give the passphrase to rotate"):
        locked.rotate()


def test_a_new_store_without_a_passphrase_needs_unprotected_said_explicitly(tmp_path):
    with pytest.raises(SecretStoreError, match="encrypted at rest: give a passphrase"):
        SecretStore(tmp_path / "secrets").rotate()
    assert not (tmp_path / "secrets").exists()
    with pytest.raises(SecretStoreError, match="contradict"):
        SecretStore(tmp_path / "secrets", b"pw", unprotected=True)


def test_passphrase_for_unprotected_store_is_an_error(tmp_path):
    SecretStore(tmp_path / "secrets", unprotected=True).rotate()
    with pytest.raises(SecretStoreError, match="not passphrase-protected, but a passphrase was given"):
        SecretStore(tmp_path / "secrets", b"pw")


def test_altered_protected_version_is_detected(tmp_path):
    store = SecretStore(tmp_path / "secrets", b"pw")
    store.rotate()
    path = tmp_path / "secrets" / "v000001.json"
    record = json.loads(path.read_text())
    record["created_at"] = "2020-01-01T00:00:00+00:00"
    path.write_text(json.dumps(record))
    with pytest.raises(SecretStoreError, match="failed authentication: it was altered"):
        SecretStore(tmp_path / "secrets", b"pw").get(1)


def test_seal_for_seals_a_chosen_version_to_a_node(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    node = ca.issue_node("housing", level="city", division_code="320900")
    store = SecretStore(tmp_path / "secrets", unprotected=True)
    old = store.rotate()
    store.rotate()
    blob = store.seal_for(1, node.cert_pem, policy=CertificatePolicy(ca.cert_pem, ca.crl_pem()))
    assert open_sealed(blob, node.key_pem, node.cert_pem) == old

    ca.revoke(node.serial, "affiliation_changed")
    with pytest.raises(CertificateRejected, match="revoked"):
        store.seal_for(1, node.cert_pem, policy=CertificatePolicy(ca.cert_pem, ca.crl_pem()))
