"""The witness's own Ed25519 key: PKCS#8 PEM, encrypted at rest unless asked otherwise,
with its verifier key (``<name>+<key id>+<base64>``) written beside it for logs and officers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aidlink.audit.note import is_valid_key_name
from aidlink.keys.key_files import (
    KeyFileError,
    ensure_directory,
    load_private_key,
    read_file,
    write_private,
    write_public,
)
from aidlink.witness.cosignature import CosignatureError, WitnessVerifier

KEY_FILE = "witness.key"
VKEY_FILE = "witness.vkey"


class WitnessKeyError(Exception):
    """The witness key cannot be created or loaded; the message says why."""


@dataclass(frozen=True)
class WitnessKey:
    """The witness's name and signing key."""

    name: str
    private_key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def verifier(self) -> WitnessVerifier:
        return WitnessVerifier(self.name, self.public_key())

    @classmethod
    def create(cls, directory: Path, name: str, passphrase: bytes | None) -> WitnessKey:
        """A new key in DIR/witness.key (0600; encrypted with `passphrase` unless None) and DIR/witness.vkey."""
        directory = Path(directory)
        if not is_valid_key_name(name):
            raise WitnessKeyError(f"witness name {name!r} is not a valid key name (non-empty, no spaces, no '+')")
        if (directory / KEY_FILE).exists():
            raise WitnessKeyError(f"a witness key already exists at {directory / KEY_FILE}; refusing to replace it")
        key = cls(name, Ed25519PrivateKey.generate())
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        pem = key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        try:
            ensure_directory(directory, private=True)
            write_private(directory / KEY_FILE, pem)
            write_public(directory / VKEY_FILE, (key.verifier().vkey() + "\n").encode(), overwrite=True)
        except KeyFileError as exc:
            raise WitnessKeyError(str(exc)) from None
        return key

    @classmethod
    def load(cls, directory: Path, passphrase: bytes | None) -> WitnessKey:
        """The key in DIR/witness.key, named by DIR/witness.vkey (which must be its public key)."""
        directory = Path(directory)
        try:
            vkey = read_file(directory / VKEY_FILE, "witness verifier key").decode("utf-8").strip()
            private = load_private_key(
                read_file(directory / KEY_FILE, "witness key"),
                passphrase,
                what=f"witness key at {directory / KEY_FILE}",
            )
            verifier = WitnessVerifier.parse(vkey)
        except (KeyFileError, CosignatureError, UnicodeDecodeError) as exc:
            raise WitnessKeyError(str(exc)) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise WitnessKeyError(f"witness key at {directory / KEY_FILE} is {type(private).__name__}, not Ed25519")
        key = cls(verifier.name, private)
        if key.verifier() != verifier:
            raise WitnessKeyError(f"{directory / VKEY_FILE} is not the public key of {directory / KEY_FILE}")
        return key
