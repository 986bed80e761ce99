"""The public key an officer trusts to have signed a log's checkpoints.

Given as a signed-note verifier key (``<name>+<hash>+<base64>``), a file holding
one, or the audit public key in PEM (``audit.pub.pem`` from ``aidlink keys``);
a PEM key takes the log's origin as its key name, as the log signs under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aidlink.audit.note import NoteError, NoteVerifier


class VerifierKeyError(ValueError):
    """The key given cannot be read as an Ed25519 audit verifier key."""


@dataclass(frozen=True)
class VerifierKey:
    """A trusted audit public key, with its key name when it came as a verifier key string."""

    public_key: Ed25519PublicKey
    name: str | None = None
    source: str = ""

    def for_origin(self, origin: str) -> NoteVerifier:
        """The note verifier for checkpoints of the log named `origin`."""
        if self.name is not None:
            return NoteVerifier.from_public_key(self.name, self.public_key)
        return NoteVerifier.from_public_key(origin, self.public_key)


def read_verifier_key(text_or_path: str) -> VerifierKey:
    """Read a verifier key string, or a file with one, or an Ed25519 public key PEM file."""
    candidate = Path(text_or_path)
    if "\n" not in text_or_path and len(text_or_path) < 4096 and candidate.is_file():
        data = candidate.read_bytes()
        source = str(candidate)
    else:
        data = text_or_path.encode()
        source = "the key given"
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise VerifierKeyError(f"{source} is not a PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise VerifierKeyError(f"{source} holds a {type(key).__name__}, not an Ed25519 audit key")
        return VerifierKey(key, None, source)
    try:
        verifier = NoteVerifier.parse(data.decode("utf-8").strip())
    except (NoteError, UnicodeDecodeError) as exc:
        raise VerifierKeyError(
            f"{source} is neither a verifier key (<name>+<hash>+<base64>) nor a PEM public key file: {exc}"
        ) from None
    return VerifierKey(verifier.public_key, verifier.name, source)
