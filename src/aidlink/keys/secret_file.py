"""Reading a linkage secret from a file, strictly: a sealed secret or a custody version file, nothing else.

Any other bytes (a password, the custody's ``store.json``, an encrypted version file read as
text) are refused: taken as key bytes they would encode under a key no other node holds, and
every match would silently drop to zero.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

from aidlink.keys.linkage_secret import MAGIC, LinkageSecret, SealedSecretError, open_sealed
from aidlink.keys.secret_store import PROTECTED, UNPROTECTED, VERSION_FORMAT

SEALED_FORMAT = "a sealed linkage secret (from `aidlink keys seal-secret`, opened with the node's key)"
CUSTODY_FORMAT = f"an unprotected custody secret version file ({VERSION_FORMAT} JSON, linkage-secrets/vNNNNNN.json)"
EXPECTED_FORMATS = f"expected {SEALED_FORMAT} or {CUSTODY_FORMAT}"


class SecretFileError(ValueError):
    """A linkage secret file is missing, of an unknown format or cannot be opened; one line says why."""


def read_secret_file(
    path: Path,
    *,
    node_key_pem: bytes | None = None,
    node_cert_pem: bytes | None = None,
    key_passphrase: bytes | None = None,
    sealed_only: bool = False,
) -> LinkageSecret:
    """The linkage secret in ``path``: sealed (needs ``node_key_pem``) or, unless ``sealed_only``, a custody version file."""
    path = Path(path)
    expected = f"expected {SEALED_FORMAT}" if sealed_only else EXPECTED_FORMATS
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SecretFileError(f"{path}: cannot read the linkage secret file: {exc.strerror or exc}") from None
    if raw.startswith(MAGIC):
        if node_key_pem is None:
            raise SecretFileError(f"{path} is a sealed linkage secret: give this node's private key to open it")
        try:
            return open_sealed(raw, node_key_pem, node_cert_pem, key_passphrase=key_passphrase)
        except SealedSecretError as exc:
            raise SecretFileError(f"{path}: {exc}; open it with the key of the node it was sealed to") from None
    record = _json_object(raw)
    if sealed_only or record is None or record.get("format") != VERSION_FORMAT:
        raise SecretFileError(f"{path} is not a linkage secret file: {expected}")
    return _from_version_record(path, record)


def _json_object(raw: bytes) -> dict | None:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _from_version_record(path: Path, record: dict) -> LinkageSecret:
    version = record.get("version")
    protection = record.get("protection")
    if protection == PROTECTED:
        raise SecretFileError(
            f"{path}: linkage secret version {version} is encrypted in the custody store and cannot be read alone; "
            f"{EXPECTED_FORMATS} (seal it to the node: aidlink keys seal-secret)"
        )
    if protection != UNPROTECTED or not isinstance(record.get("key"), str):
        raise SecretFileError(f"{path}: a {VERSION_FORMAT} file without a readable key; {EXPECTED_FORMATS}")
    if not isinstance(version, int):
        raise SecretFileError(f"{path}: a {VERSION_FORMAT} file whose version is not a number; {EXPECTED_FORMATS}")
    try:
        secret = LinkageSecret(version=version, key=base64.b64decode(record["key"], validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SecretFileError(f"{path}: {exc}") from None
    if secret.key_id != record.get("key_id"):
        raise SecretFileError(f"{path}: key does not match its key id {record.get('key_id')!r}; the file is damaged")
    return secret
