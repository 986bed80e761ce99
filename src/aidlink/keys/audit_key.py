"""The Ed25519 key that signs audit-log checkpoints; its public half is written beside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aidlink.keys.key_files import KeyFileError, load_private_key, read_file, write_private, write_public


class AuditKeyError(Exception):
    """The audit signing key cannot be created or loaded; the message says why."""


def public_key_path(path: Path) -> Path:
    """Where the public key of the private key at ``path`` lives: ``audit.key`` -> ``audit.pub.pem``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.pub.pem")


def audit_key_id(public_key: Ed25519PublicKey) -> str:
    """A short public name for an audit key (16 hex digits of SHA-256 over the raw public key)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_audit_public_key(pem: bytes) -> Ed25519PublicKey:
    """Load an audit public key (PEM) for verifying checkpoint signatures."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"audit public key is {type(key).__name__}, not Ed25519")
    return key


class AuditSigningKey:
    """Signs audit checkpoints. Use :meth:`create`, :meth:`load` or :meth:`generate`."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise AuditKeyError(f"audit signing key must be Ed25519, got {type(private_key).__name__}")
        self._key = private_key

    def __repr__(self) -> str:
        return f"AuditSigningKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> AuditSigningKey:
        """A new key held only in memory (tests, demos)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def create(cls, path: Path, passphrase: bytes | None = None) -> AuditSigningKey:
        """Generate a key, write it to ``path`` (PKCS#8 PEM, 0o600) and its public key beside it."""
        path = Path(path)
        if path.exists():
            raise AuditKeyError(f"an audit signing key already exists at {path}; refusing to replace it")
        if passphrase is not None and (not isinstance(passphrase, bytes) or not passphrase):
            raise AuditKeyError("passphrase must be non-empty bytes")
        signing_key = cls.generate()
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        pem = signing_key._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        try:
            write_private(path, pem)
            write_public(public_key_path(path), signing_key.public_key_pem(), overwrite=True)
        except KeyFileError as exc:
            raise AuditKeyError(str(exc)) from None
        return signing_key

    @classmethod
    def load(cls, path: Path, passphrase: bytes | None = None) -> AuditSigningKey:
        """Load the key at ``path``; a protected key needs the right ``passphrase``."""
        try:
            key = load_private_key(
                read_file(path, "audit signing key"), passphrase, what=f"audit signing key at {path}"
            )
        except KeyFileError as exc:
            raise AuditKeyError(str(exc)) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(f"audit signing key at {path} is {type(key).__name__}, not Ed25519")
        return cls(key)

    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def public_key_pem(self) -> bytes:
        return self.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        return audit_key_id(self.public_key())

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature (64 bytes) over ``message``; verify with ``public_key().verify(sig, message)``."""
        return self._key.sign(message)
