"""Writing key material to disk: private files are created 0o600 from the start, never chmod-ed later."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700


class KeyFileError(Exception):
    """A key file could not be written or read as asked."""


def ensure_directory(directory: Path, *, private: bool = False) -> Path:
    """Create ``directory`` (and parents) if needed; a private one is 0o700."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise KeyFileError(f"{directory} exists and is not a directory")
    mode = PRIVATE_DIRECTORY_MODE if private else 0o755
    directory.mkdir(parents=True, exist_ok=True, mode=mode)
    if private:
        os.chmod(directory, PRIVATE_DIRECTORY_MODE)
    return directory


def write_private(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` with mode 0o600, atomically; refuse to replace unless ``overwrite``."""
    return _write(Path(path), data, PRIVATE_FILE_MODE, overwrite)


def write_public(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write non-secret ``data`` (certificates, public keys) to ``path`` with mode 0o644, atomically."""
    return _write(Path(path), data, 0o644, overwrite)


def _write(path: Path, data: bytes, mode: int, overwrite: bool) -> Path:
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path} already exists; refusing to overwrite it")
    ensure_directory(path.parent)
    # mkstemp creates the file 0o600 with O_EXCL, so secret bytes never sit in a wider-mode file.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        if overwrite:
            os.replace(tmp_name, path)
        else:
            # link() fails if the path appeared meanwhile, so a racing writer never gets clobbered.
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                raise KeyFileError(f"{path} already exists; refusing to overwrite it") from None
            os.unlink(tmp_name)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path


def read_file(path: Path, what: str) -> bytes:
    """Read ``path``, naming ``what`` it should hold if it is missing."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} not found at {path}") from None


def load_private_key(key_pem: bytes, passphrase: bytes | None, *, what: str):
    """Load a PEM private key, turning the library's passphrase errors into ones naming ``what``."""
    try:
        return serialization.load_pem_private_key(key_pem, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise KeyFileError(f"{what} is passphrase-protected; give its passphrase") from None
        raise KeyFileError(f"{what} is not passphrase-protected, but a passphrase was given") from None
    except ValueError:
        if passphrase is not None:
            raise KeyFileError(f"wrong passphrase for {what} (or the file is damaged)") from None
        raise KeyFileError(f"{what} is not a readable PEM private key") from None
