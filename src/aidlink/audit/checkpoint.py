"""Signed checkpoints (C2SP tlog-checkpoint) and a signer that never contradicts itself.

A checkpoint body is ``<origin>\\n<tree size in decimal>\\n<base64 root hash>\\n``
followed by optional non-empty extension lines; it is carried in a signed note
(see audit.note).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidlink.audit.merkle.hasher import EMPTY_ROOT, HASH_SIZE
from aidlink.audit.merkle.proof import verify_consistency
from aidlink.audit.note import NoteKey, NoteSigner, NoteVerifier, open_note

ConsistencyProver = Callable[[int, int], Sequence[bytes]]
"""Yields the consistency proof from (size1, size2), e.g. MerkleTree.consistency_proof."""


class CheckpointError(ValueError):
    """A checkpoint body is malformed or does not match what was expected."""


class InconsistentCheckpointError(CheckpointError):
    """Signing would contradict a checkpoint the log signed earlier."""


def _check_line(what: str, line: str) -> None:
    if not isinstance(line, str) or not line:
        raise CheckpointError(f"checkpoint {what} must be a non-empty string, got {line!r}")
    if "\n" in line:
        raise CheckpointError(f"checkpoint {what} must not contain a newline: {line!r}")
    if any(c < " " for c in line):
        raise CheckpointError(f"checkpoint {what} must not contain control characters: {line!r}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's commitment to its Merkle tree of `size` leaves with root hash `root`."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise CheckpointError(f"checkpoint size must be a non-negative int, got {self.size!r}")
        if isinstance(self.root, (bytearray, memoryview)):
            object.__setattr__(self, "root", bytes(self.root))
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            length = len(self.root) if isinstance(self.root, bytes) else type(self.root).__name__
            raise CheckpointError(f"checkpoint root must be {HASH_SIZE} bytes, got {length}")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for i, line in enumerate(self.extensions):
            _check_line(f"extension line {i + 1}", line)

    def body(self) -> bytes:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        """Parse a checkpoint body (the text of the signed note)."""
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"checkpoint is not valid UTF-8 (byte {exc.start})") from exc
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint has {len(lines)} lines, needs origin, size and root hash")
        origin, size_text, root_text, *extensions = lines
        if not size_text.isascii() or not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
            raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal number without leading zeros")
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise CheckpointError(f"checkpoint root hash {root_text!r} is not valid base64") from exc
        if base64.b64encode(root).decode() != root_text:
            raise CheckpointError(f"checkpoint root hash {root_text!r} is not canonical base64")
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> bytes:
    """The signed note carrying `cp`, signed with `private_key` under key name `name`."""
    return NoteSigner(name, private_key).sign(cp.body())


def open_checkpoint(note: bytes, verifier: NoteVerifier, origin: str | None = None) -> Checkpoint:
    """Verify the signature on `note` and return its checkpoint.

    When `origin` is given the checkpoint must be for that log. Raises
    audit.note.NoteError (malformed note, missing or bad signature) or
    CheckpointError (malformed body, other origin).
    """
    cp = Checkpoint.parse(open_note(note, verifier))
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint is for log {cp.origin!r}, expected {origin!r}")
    return cp


class CheckpointSigner:
    """Signs checkpoints for one log, refusing any that is inconsistent with the last one signed.

    `consistency_proof(size1, size2)` must return the log's consistency proof
    between those sizes; each new checkpoint is checked against it before signing.
    Pass `last` (e.g. from open_checkpoint on the stored note) when restarting.
    """

    def __init__(
        self,
        origin: str,
        name: str,
        private_key: NoteKey,
        consistency_proof: ConsistencyProver,
        last: Checkpoint | None = None,
    ) -> None:
        _check_line("origin", origin)
        if last is not None and last.origin != origin:
            raise CheckpointError(f"last checkpoint is for log {last.origin!r}, not {origin!r}")
        self._origin = origin
        self._signer = NoteSigner(name, private_key)
        self._consistency_proof = consistency_proof
        self._last = last
        self._lock = threading.Lock()

    @property
    def last(self) -> Checkpoint | None:
        """The most recent checkpoint signed (or given at start)."""
        return self._last

    def verifier(self) -> NoteVerifier:
        """The verifier for this signer's key."""
        return self._signer.verifier()

    def sign(self, size: int, root: bytes, extensions: Sequence[str] = ()) -> bytes:
        """Sign a checkpoint for (size, root) and remember it; returns the signed note.

        Raises InconsistentCheckpointError when the log shrank, when the same size
        has a different root, or when the consistency proof from the last signed
        checkpoint does not verify.
        """
        cp = Checkpoint(self._origin, size, root, tuple(extensions))
        with self._lock:
            self._check_consistent(cp)
            note = self._signer.sign(cp.body())
            self._last = cp
        return note

    def _check_consistent(self, cp: Checkpoint) -> None:
        if cp.size == 0 and cp.root != EMPTY_ROOT:
            raise InconsistentCheckpointError(
                f"refusing to sign size 0 with root {cp.root.hex()}: the empty tree's root is {EMPTY_ROOT.hex()}"
            )
        last = self._last
        if last is None or last.size == 0:
            return  # nothing signed yet, or only the empty tree: a prefix of every tree
        if cp.size < last.size:
            raise InconsistentCheckpointError(
                f"refusing to sign size {cp.size}: already signed a larger size {last.size}"
            )
        if cp.size == last.size:
            if not hmac.compare_digest(cp.root, last.root):
                raise InconsistentCheckpointError(
                    f"refusing to sign size {cp.size} with root {cp.root.hex()}: "
                    f"already signed root {last.root.hex()} for that size"
                )
            return
        try:
            proof = self._consistency_proof(last.size, cp.size)
            verify_consistency(last.size, cp.size, proof, last.root, cp.root)
        except ValueError as exc:  # ProofError, or the prover cannot produce a proof
            raise InconsistentCheckpointError(
                f"refusing to sign size {cp.size}: not consistent with signed size {last.size}: {exc}"
            ) from exc
