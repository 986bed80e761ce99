"""The Ed25519 audit signing key."""

from __future__ import annotations

import stat

import pytest
from cryptography.exceptions import InvalidSignature

from aidlink.keys import AuditKeyError, AuditSigningKey, load_audit_public_key


def test_create_writes_private_key_0600_and_public_key_beside_it(tmp_path):
    key = AuditSigningKey.create(tmp_path / "audit-signing.key")
    assert stat.S_IMODE((tmp_path / "audit-signing.key").stat().st_mode) == 0o600
    public = load_audit_public_key((tmp_path / "audit-signing.pub.pem").read_bytes())
    signature = key.sign(b"checkpoint 42")
    public.verify(signature, b"checkpoint 42")
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"checkpoint 43")
    assert key.key_id in repr(key) and "PRIVATE" not in repr(key)


def test_load_round_trips_and_refuses_to_overwrite(tmp_path):
    created = AuditSigningKey.create(tmp_path / "audit.key")
    loaded = AuditSigningKey.load(tmp_path / "audit.key")
    assert loaded.public_key_pem() == created.public_key_pem()
    loaded.public_key().verify(created.sign(b"m"), b"m")
    with pytest.raises(AuditKeyError, match="already exists"):
        AuditSigningKey.create(tmp_path / "audit.key")


def test_passphrase_protected_audit_key(tmp_path):
    AuditSigningKey.create(tmp_path / "audit.key", b"pw")
    assert b"ENCRYPTED" in (tmp_path / "audit.key").read_bytes()
    with pytest.raises(AuditKeyError, match="passphrase-protected"):
        AuditSigningKey.load(tmp_path / "audit.key")
    with pytest.raises(AuditKeyError, match="wrong passphrase"):
        AuditSigningKey.load(tmp_path / "audit.key", b"nope")
    assert AuditSigningKey.load(tmp_path / "audit.key", b"pw").key_id


def test_missing_key_is_named(tmp_path):
    with pytest.raises(AuditKeyError, match="audit signing key not found at .*missing.key"):
        AuditSigningKey.load(tmp_path / "missing.key")
