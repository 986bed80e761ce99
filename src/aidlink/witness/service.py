"""The witness's decisions, apart from HTTP: which logs it follows, and whether it cosigns.

A checkpoint is cosigned only if it is signed by a key the witness trusts for its
origin, its `old` size is the size the witness last cosigned, and the consistency
proof from that checkpoint verifies; the new checkpoint (with its cosignature) is
persisted before the cosignature is returned.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aidlink.audit.checkpoint import Checkpoint, CheckpointError
from aidlink.audit.merkle import EMPTY_ROOT, ProofError, verify_consistency
from aidlink.audit.note import NoteError, NoteVerifier, open_note
from aidlink.witness.cosignature import cosign
from aidlink.witness.key import WitnessKey
from aidlink.witness.protocol import SIZE_CONTENT_TYPE, AddCheckpoint
from aidlink.witness.state import Latest, WitnessState

log = logging.getLogger("aidlink.witness")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body, content type."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def refuse(cls, status: int, message: str) -> Answer:
        return cls(status, (message + "\n").encode())


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.decode(errors="replace"))
        self.answer = answer


def _split_note(note: bytes) -> bytes:
    split = note.rfind(b"\n\n")
    return note[: split + 1] if split >= 0 else note


class Witness:
    """Cosigns checkpoints of the logs it follows (origin -> the log keys it trusts)."""

    def __init__(self, key: WitnessKey, logs: Iterable[NoteVerifier], state: WitnessState) -> None:
        self.key = key
        self.state = state
        self.logs: dict[str, list[NoteVerifier]] = {}
        for verifier in logs:  # a log signs under its origin as key name (audit.log)
            self.logs.setdefault(verifier.name, []).append(verifier)

    def _verified_checkpoint(self, note: bytes) -> Checkpoint:
        try:
            text = note.decode("utf-8")
            origin = text.split("\n", 1)[0]
        except UnicodeDecodeError:
            raise _Refused(Answer.refuse(400, "checkpoint is not valid UTF-8")) from None
        keys: Sequence[NoteVerifier] = self.logs.get(origin, ())
        if not keys:
            raise _Refused(Answer.refuse(404, f"unknown log {origin[:200]!r}: this witness does not follow it"))
        errors = []
        for key in keys:
            try:
                body = open_note(note, key)
                return Checkpoint.parse(body)
            except NoteError as exc:
                errors.append(str(exc))
            except CheckpointError as exc:
                raise _Refused(Answer.refuse(400, f"malformed checkpoint: {exc}")) from None
        raise _Refused(
            Answer.refuse(403, f"checkpoint is not signed by a key trusted for {origin!r}: {'; '.join(errors)}")
        )

    def add_checkpoint(self, request: AddCheckpoint) -> Answer:
        try:
            cp = self._verified_checkpoint(request.note)
            if request.old_size > cp.size:
                raise _Refused(
                    Answer.refuse(400, f"old size {request.old_size} exceeds the checkpoint's size {cp.size}")
                )
            if request.old_size == 0 and request.proof:
                raise _Refused(Answer.refuse(400, "the consistency proof must be empty when the old size is 0"))
            body = _split_note(request.note)

            def decide(latest: Latest | None) -> Latest:
                known = latest.size if latest else 0
                if request.old_size != known:
                    raise _Refused(Answer(409, f"{known}\n".encode(), SIZE_CONTENT_TYPE))
                if latest is not None and cp.size == latest.size:
                    if not hmac.compare_digest(cp.root, latest.root):
                        raise _Refused(
                            Answer.refuse(409, f"size {cp.size} was cosigned with another root hash: the log forked")
                        )
                elif latest is not None and latest.size > 0:
                    try:
                        verify_consistency(latest.size, cp.size, request.proof, latest.root, cp.root)
                    except (ProofError, ValueError) as exc:
                        log.warning(
                            "witness: refused %s size %d: not consistent with cosigned size %d (%s)",
                            cp.origin,
                            cp.size,
                            latest.size,
                            exc,
                        )
                        raise _Refused(
                            Answer.refuse(
                                422, f"consistency proof from size {latest.size} to {cp.size} does not verify: {exc}"
                            )
                        ) from None
                elif cp.size == 0 and cp.root != EMPTY_ROOT:
                    raise _Refused(Answer.refuse(422, "a size-0 checkpoint must carry the empty tree's root"))
                now = int(time.time())
                line = cosign(body, self.key.name, self.key, now)
                return Latest(cp.origin, cp.size, cp.root, bytes(request.note) + line.encode(), now)

            stored = self.state.advance(cp.origin, decide)
        except _Refused as refused:
            return refused.answer
        log.info("witness: cosigned %s size %d", cp.origin, cp.size)
        return Answer(200, stored.note[len(request.note) :])

    def latest(self, origin: str) -> Answer:
        if origin not in self.logs:
            return Answer.refuse(404, f"unknown log {origin[:200]!r}: this witness does not follow it")
        latest = self.state.latest(origin)
        if latest is None:
            return Answer.refuse(404, f"no checkpoint of {origin!r} cosigned yet")
        return Answer(200, latest.note)
