"""The custodian's master copy of every linkage-secret version, with rotation.

Layout of the store directory (0o700; every file 0o600)::

    store.json        protection ("none" or "scrypt+aes-256-gcm"), scrypt salt and cost, passphrase check
    v000001.json      one file per version: version, created_at, key_id, and the key
                      (plain base64, or AES-256-GCM under the scrypt-derived key with the
                      other fields as associated data)

Old versions are never deleted: encodings made under them stay decodable by nodes that still
hold them, and the custodian can re-seal them.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from aidlink.keys.identity import CertificatePolicy
from aidlink.keys.key_files import KeyFileError, ensure_directory, write_private
from aidlink.keys.linkage_secret import LinkageSecret, seal

STORE_FILE = "store.json"
STORE_FORMAT = "aidlink-secret-store/1"
VERSION_FORMAT = "aidlink-linkage-secret/1"
PROTECTED = "scrypt+aes-256-gcm"
UNPROTECTED = "none"
# scrypt cost: 2**15 x 8 x 128 bytes = 32 MiB and about 0.1 s, paid once per opened store.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_CHECK_AAD = b"aidlink secret store passphrase check"
_VERSION_FILE = re.compile(r"v(\d{6,})\.json")


class SecretStoreError(Exception):
    """The secret store cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class SecretVersionInfo:
    """What can be said about a version without its key."""

    version: int
    created_at: datetime
    key_id: str


class SecretStore:
    """Versions of the linkage secret in ``directory``; ``passphrase`` if the store is (to be) protected.

    A new store is created by the first :meth:`rotate`: encrypted under ``passphrase``, or with
    keys in the clear only if ``unprotected=True`` was said explicitly. A protected store opened
    without its passphrase can list versions (:meth:`describe`) but not read or add keys.
    """

    def __init__(self, directory: Path, passphrase: bytes | None = None, *, unprotected: bool = False) -> None:
        self.directory = Path(directory)
        if passphrase is not None and (not isinstance(passphrase, bytes) or not passphrase):
            raise SecretStoreError("passphrase must be non-empty bytes")
        if passphrase is not None and unprotected:
            raise SecretStoreError("a passphrase and unprotected=True contradict each other")
        self._passphrase = passphrase
        self._unprotected = unprotected
        self._kek: bytes | None = None
        self._locked = False
        meta_path = self.directory / STORE_FILE
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            self._kek = self._open_meta(meta)
            self._locked = meta.get("protection") == PROTECTED and self._kek is None
        elif self.versions():
            raise SecretStoreError(f"{self.directory} holds secret versions but no {STORE_FILE}; it is damaged")

    def __repr__(self) -> str:
        return f"SecretStore(directory={str(self.directory)!r}, versions={self.versions()})"

    @property
    def protected(self) -> bool:
        return self._passphrase is not None or self._locked

    def _require_unlocked(self, action: str) -> None:
        if self._locked:
            raise SecretStoreError(
                f"secret store {self.directory} is passphrase-protected; give the passphrase to {action}"
            )

    # -- reading ---------------------------------------------------------------------------

    def versions(self) -> list[int]:
        """Stored version numbers, ascending."""
        if not self.directory.is_dir():
            return []
        found = (_VERSION_FILE.fullmatch(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def describe(self) -> list[SecretVersionInfo]:
        """Version, creation time and key id of every version; reads no key."""
        infos = []
        for version in self.versions():
            record = self._read_record(version)
            infos.append(SecretVersionInfo(version, datetime.fromisoformat(record["created_at"]), record["key_id"]))
        return infos

    def current(self) -> LinkageSecret:
        """The newest version."""
        versions = self.versions()
        if not versions:
            raise SecretStoreError(f"no linkage secret in {self.directory} yet; rotate() creates version 1")
        return self.get(versions[-1])

    def get(self, version: int) -> LinkageSecret:
        """A stored version; old versions stay retrievable after rotation."""
        record = self._read_record(version)
        if record.get("format") != VERSION_FORMAT or record.get("version") != version:
            raise SecretStoreError(
                f"{self._path(version)} is not linkage secret version {version} in {VERSION_FORMAT} form"
            )
        if record.get("protection") == PROTECTED:
            self._require_unlocked(f"read version {version}")
            if self._kek is None:
                raise SecretStoreError(
                    f"{self._path(version)} is encrypted, but store {self.directory} is not protected; it is damaged"
                )
            try:
                key = AESGCM(self._kek).decrypt(_b64(record["nonce"]), _b64(record["ciphertext"]), _aad(record))
            except InvalidTag:
                raise SecretStoreError(f"{self._path(version)} failed authentication: it was altered") from None
        else:
            key = _b64(record["key"])
        secret = LinkageSecret(version=version, key=key)
        if secret.key_id != record["key_id"]:
            raise SecretStoreError(
                f"{self._path(version)}: key does not match its key id {record['key_id']}; the file is damaged"
            )
        return secret

    # -- changing --------------------------------------------------------------------------

    def rotate(self) -> LinkageSecret:
        """Create and store a new version (the highest so far + 1, or 1) and return it."""
        self._require_unlocked("rotate")
        if not (self.directory / STORE_FILE).exists():
            self._create_meta()
        versions = self.versions()
        secret = LinkageSecret.generate(versions[-1] + 1 if versions else 1)
        record: dict = {
            "format": VERSION_FORMAT,
            "version": secret.version,
            "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "key_id": secret.key_id,
        }
        if self._kek is not None:
            record["protection"] = PROTECTED
            nonce = os.urandom(12)
            record["nonce"] = _text(nonce)
            record["ciphertext"] = _text(AESGCM(self._kek).encrypt(nonce, secret.key, _aad(record)))
        else:
            record["protection"] = UNPROTECTED
            record["key"] = _text(secret.key)
        try:
            write_private(self._path(secret.version), _dump(record))
        except KeyFileError as exc:
            raise SecretStoreError(
                f"cannot store version {secret.version}: {exc} (another rotation raced this one?)"
            ) from None
        return secret

    def seal_for(self, version: int, cert_pem: bytes, *, policy: CertificatePolicy | None = None) -> bytes:
        """Seal a version to a node certificate; with ``policy``, only if the CA (and CRL) vouch for it."""
        if policy is not None:
            policy.check(cert_pem)
        return seal(self.get(version), cert_pem)

    # -- files -----------------------------------------------------------------------------

    def _path(self, version: int) -> Path:
        return self.directory / f"v{version:06d}.json"

    def _read_record(self, version: int) -> dict:
        if not isinstance(version, int) or version < 1:
            raise SecretStoreError(f"linkage secret version must be an integer >= 1, got {version!r}")
        try:
            return json.loads(self._path(version).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SecretStoreError(
                f"no linkage secret version {version} in {self.directory} (stored: {self.versions() or 'none'})"
            ) from None

    def _create_meta(self) -> None:
        if self._passphrase is None and not self._unprotected:
            raise SecretStoreError(
                f"a new secret store ({self.directory}) is encrypted at rest: give a passphrase "
                "(or unprotected=True to keep the keys in the clear)"
            )
        ensure_directory(self.directory, private=True)
        meta: dict = {"format": STORE_FORMAT, "protection": UNPROTECTED}
        if self._passphrase is not None:
            salt = os.urandom(16)
            meta.update(protection=PROTECTED, scrypt={"salt": _text(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P})
            self._kek = _derive(self._passphrase, meta["scrypt"])
            nonce = os.urandom(12)
            meta["check"] = {"nonce": _text(nonce), "tag": _text(AESGCM(self._kek).encrypt(nonce, b"", _CHECK_AAD))}
        write_private(self.directory / STORE_FILE, _dump(meta))

    def _open_meta(self, meta: dict) -> bytes | None:
        if meta.get("format") != STORE_FORMAT:
            raise SecretStoreError(f"{self.directory / STORE_FILE} is not an {STORE_FORMAT} file")
        if meta["protection"] == UNPROTECTED:
            if self._passphrase is not None:
                raise SecretStoreError(
                    f"secret store {self.directory} is not passphrase-protected, but a passphrase was given"
                )
            return None
        if self._passphrase is None:
            return None
        kek = _derive(self._passphrase, meta["scrypt"])
        try:
            AESGCM(kek).decrypt(_b64(meta["check"]["nonce"]), _b64(meta["check"]["tag"]), _CHECK_AAD)
        except InvalidTag:
            raise SecretStoreError(f"wrong passphrase for secret store {self.directory}") from None
        return kek


def _derive(passphrase: bytes, params: dict) -> bytes:
    return Scrypt(salt=_b64(params["salt"]), length=32, n=params["n"], r=params["r"], p=params["p"]).derive(passphrase)


def _aad(record: dict) -> bytes:
    fields = {k: record[k] for k in ("format", "version", "created_at", "key_id", "protection")}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _dump(record: dict) -> bytes:
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
