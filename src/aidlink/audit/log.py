"""The audit log: a Merkle log of entries, group-committed, fail-closed, with signed checkpoints.

`append` returns only after the entry is durable, so a caller can answer the
call it records. Concurrent appends are committed together in one transaction
(group commit). If the store cannot write, `append` raises `AuditUnavailable`
and the caller must refuse the call it was about to answer.

Each entry is a leaf of an RFC 9162 tree (leaf hash = hash_leaf(canonical
bytes)). With a signing key the log issues C2SP checkpoints on a schedule and
on demand, through a CheckpointSigner that refuses any checkpoint inconsistent
with the last one; at start-up the stored tree must match the newest stored
checkpoint or the log does not open.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from aidlink.audit.checkpoint import Checkpoint, CheckpointError, CheckpointSigner, open_checkpoint
from aidlink.audit.entry import AuditEntry, utc_now
from aidlink.audit.merkle import MerkleTree
from aidlink.audit.metrics import AuditMetrics
from aidlink.audit.note import NoteError, NoteKey, NoteVerifier
from aidlink.audit.store import SQLAuditStore, StoredCheckpoint, StoredEntry
from aidlink.audit.witnessing import DEFAULT_RETRY_INTERVAL, WitnessSubmitter
from aidlink.observability.tracing import span
from aidlink.witness.client import WitnessEndpoint

log = logging.getLogger("aidlink.audit")

DEFAULT_CHECKPOINT_INTERVAL = 10.0
MAX_BATCH = 1024
LEAD_BATCHES = 4


class AuditUnavailable(RuntimeError):
    """The audit store could not record an entry; the call must not be answered."""


class AuditError(RuntimeError):
    """The audit log cannot be opened as configured, or cannot sign."""


class AuditIntegrityError(AuditError):
    """The stored log does not match what it committed to earlier (run `aidlink audit verify`)."""


CheckpointKey = NoteKey  # an Ed25519 private key, or anything signing like one (AuditSigningKey)


def default_origin() -> str:
    """``aidlink.audit/<host name>``, with characters a key name may not hold replaced."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "localhost"
    return f"aidlink.audit/{host}"


def unverified_checkpoint(note: bytes) -> Checkpoint:
    """The checkpoint carried by a stored note, signature not checked (the log's own store)."""
    text = bytes(note)
    split = text.rfind(b"\n\n")
    if split < 0:
        raise CheckpointError("stored checkpoint note has no blank line before its signatures")
    return Checkpoint.parse(text[: split + 1])


class _Slot:
    """One caller's entry waiting to be written, and the answer it gets.

    `_signal` is a plain lock held while the caller has nothing to act on; releasing
    it wakes the caller (with its answer, or to take the lead). Cheaper than an Event.
    """

    __slots__ = ("entry", "_signal", "lead", "seq", "error")

    def __init__(self, entry: AuditEntry) -> None:
        self.entry = entry
        self._signal = threading.Lock()
        self._signal.acquire()
        self.lead = False
        self.seq: int | None = None
        self.error: AuditUnavailable | None = None

    def wait(self, timeout: float) -> bool:
        return self._signal.acquire(timeout=timeout)

    def wake(self) -> None:
        try:
            self._signal.release()
        except RuntimeError:  # already woken and not waiting again
            pass

    def answer(self, seq: int | None = None, error: AuditUnavailable | None = None) -> None:
        self.seq, self.error = seq, error
        self.wake()


class AuditLog:
    """Append-only Merkle log over an audit store."""

    def __init__(
        self,
        store: SQLAuditStore,
        signing_key: CheckpointKey | None = None,
        origin: str | None = None,
        checkpoint_interval: float | None = DEFAULT_CHECKPOINT_INTERVAL,
        registry: CollectorRegistry | None = None,
        max_batch: int = MAX_BATCH,
        witnesses: Sequence[WitnessEndpoint] = (),
        witness_retry_interval: float = DEFAULT_RETRY_INTERVAL,
    ) -> None:
        self.store = store
        self.metrics = AuditMetrics(registry)
        self._max_batch = max_batch
        self._tree = MerkleTree()
        self._tree_lock = threading.RLock()
        self._load_tree()
        self._latest = store.latest_checkpoint()
        last = self._check_latest_checkpoint(signing_key)
        if origin is not None and last is not None and origin != last.origin:
            raise AuditError(
                f"this audit log's origin is {last.origin!r} (from its checkpoints); it cannot continue as {origin!r}"
            )
        self.origin = origin or (last.origin if last else default_origin())
        self._signer = None
        if signing_key is not None:
            try:
                self._signer = CheckpointSigner(
                    self.origin, self.origin, signing_key, self._consistency_proof, last=last
                )
            except (CheckpointError, NoteError) as exc:
                raise AuditError(f"audit origin {self.origin!r} cannot name a signing key: {exc}") from None
        self._next_seq = self._tree.size
        self.metrics.size.set(self._next_seq)
        if self._latest is not None:
            self.metrics.checkpoint_size.set(self._latest.size)

        self._pending: list[_Slot] = []
        self._pending_lock = threading.Lock()
        self._leading = False
        self._closed = False
        self._checkpoint_lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._witnessing: WitnessSubmitter | None = None
        if witnesses:
            if self._signer is None:
                raise AuditError("witnesses cosign signed checkpoints: configure an audit signing key too")
            self._witnessing = WitnessSubmitter(
                store, self._consistency_proof, witnesses, self.metrics.registry, witness_retry_interval
            )
        if self._signer is not None and self._tree.size > 0:
            # The log commits at once to entries written after its last checkpoint (before a crash).
            try:
                self.checkpoint()
            except BaseException:
                if self._witnessing is not None:
                    self._witnessing.close()
                raise
        if self._signer is not None and checkpoint_interval:
            self._timer = threading.Thread(
                target=self._checkpoint_loop, args=(checkpoint_interval,), name="audit-checkpoints", daemon=True
            )
            self._timer.start()

    # -- start-up ---------------------------------------------------------------------------
    def _load_tree(self) -> None:
        for expected, (seq, leaf) in enumerate(self.store.leaf_hashes()):
            if seq != expected:
                raise AuditIntegrityError(
                    f"audit store has no entry {expected} (next stored is {seq}): entries were deleted"
                )
            self._tree.append(leaf)

    def _check_latest_checkpoint(self, signing_key: CheckpointKey | None) -> Checkpoint | None:
        stored = self._latest
        if stored is None:
            return None
        if signing_key is not None:
            origin = unverified_checkpoint(stored.note).origin
            try:
                cp = open_checkpoint(stored.note, NoteVerifier.from_public_key(origin, signing_key.public_key()))
            except (NoteError, CheckpointError) as exc:
                raise AuditError(
                    f"the newest stored checkpoint (#{stored.number}) does not verify with the configured "
                    f"audit key ({exc}); start the log with the key that signed it"
                ) from None
        else:
            cp = unverified_checkpoint(stored.note)
        if cp.size > self._tree.size:
            raise AuditIntegrityError(
                f"checkpoint #{stored.number} commits to {cp.size} entries but only {self._tree.size} "
                f"are stored: the log was truncated from entry {self._tree.size}"
            )
        if self._tree.root(cp.size) != cp.root:
            raise AuditIntegrityError(
                f"the first {cp.size} stored entries do not match checkpoint #{stored.number}: entries were changed"
            )
        return cp

    # -- appending --------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Entries durably stored."""
        return self._next_seq

    def append(self, entry: AuditEntry, timeout: float = 30.0) -> int:
        """Durably append `entry`; returns its sequence number. Raises AuditUnavailable."""
        with span("aidlink.audit.append", **{"aidlink.audit.method": entry.method}) as s:
            seq = self._append_durably(entry, timeout)
            s.set_attribute("aidlink.audit.seq", seq)
            return seq

    def _append_durably(self, entry: AuditEntry, timeout: float) -> int:
        """Durably append `entry`; returns its sequence number. Raises AuditUnavailable.

        Group commit without a writer thread: one caller at a time leads, writing
        every pending entry in one transaction, then hands the lead to the oldest
        caller still waiting. Each other caller is woken once, with its answer.
        """
        started = time.perf_counter()
        slot = _Slot(entry.bounded())
        with self._pending_lock:
            if self._closed:
                self.metrics.append_failures.inc()
                raise AuditUnavailable("audit log is closed")
            self._pending.append(slot)
            if not self._leading:
                self._leading = slot.lead = True
        deadline = started + timeout
        while True:
            if slot.lead and slot.seq is None and slot.error is None:
                self._lead()
            if slot.seq is not None or slot.error is not None:
                break
            if not slot.wait(max(0.0, deadline - time.perf_counter())):
                with self._pending_lock:
                    withdrawn = not slot.lead and slot in self._pending
                    if withdrawn:  # not being written yet: take it back and refuse the call
                        self._pending.remove(slot)
                if withdrawn:
                    slot.error = AuditUnavailable(f"audit store did not record the call within {timeout} s")
                    break
                deadline = time.perf_counter() + timeout  # being written, or ours to write: wait on
        if slot.error is not None:
            self.metrics.append_failures.inc()
            raise slot.error
        self.metrics.append_latency.observe(time.perf_counter() - started)
        assert slot.seq is not None
        return slot.seq

    def _lead(self) -> None:
        """Write pending entries in batches while there are any (at most `LEAD_BATCHES`
        batches, for fairness), then pass the lead on or give it up. Committing what
        arrived during the last commit right away saves waking another thread."""
        for _ in range(LEAD_BATCHES):
            with self._pending_lock:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                if not batch:
                    self._leading = False
                    return
            try:
                self._commit(batch)
            except BaseException:
                self._pass_lead()
                raise
        self._pass_lead()

    def _pass_lead(self) -> None:
        with self._pending_lock:
            if self._pending:
                successor = self._pending[0]
                successor.lead = True
                successor.wake()
            else:
                self._leading = False

    def _commit(self, batch: list[_Slot]) -> None:
        rows: list[StoredEntry] = []
        live: list[_Slot] = []
        seq = self._next_seq
        for slot in batch:
            try:
                rows.append(StoredEntry.of(seq, slot.entry))
            except Exception as exc:  # a malformed entry fails alone
                slot.answer(error=AuditUnavailable(f"audit entry could not be encoded: {exc!r}"))
                continue
            live.append(slot)
            seq += 1
        if not rows:
            return
        try:
            self.store.append_batch(rows)
        except Exception as exc:
            log.error("audit store write failed for %d entries: %s", len(rows), exc)
            for slot in live:
                slot.answer(error=AuditUnavailable(f"audit store write failed: {exc}"))
            return
        with self._tree_lock:
            self._tree.extend(r.leaf_hash for r in rows)
            self._next_seq = seq
        self.metrics.size.set(seq)
        self.metrics.batch_size.observe(len(rows))
        for row, slot in zip(rows, live):
            self.metrics.entry_recorded(row.entry)
            slot.answer(seq=row.seq)

    # -- checkpoints ------------------------------------------------------------------------
    def _consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self._tree_lock:
            return self._tree.consistency_proof(size1, size2)

    def verifier(self) -> NoteVerifier | None:
        """The verifier of this log's checkpoints (None without a signing key)."""
        return self._signer.verifier() if self._signer else None

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self._latest

    def checkpoint(self) -> bytes:
        """Sign and store a checkpoint of every durable entry; returns the signed note.

        When nothing was appended since the latest checkpoint, that one is returned.
        """
        if self._signer is None:
            raise AuditError("this audit log has no signing key, so it cannot issue checkpoints")
        with self._checkpoint_lock:
            with self._tree_lock:
                size, root = self._tree.size, self._tree.root()
            latest = self._latest
            if latest is not None and latest.size == size and latest.root == root:
                return latest.note
            try:
                note = self._signer.sign(size, root)
                stored = self.store.append_checkpoint(utc_now(), size, root, note)
            except Exception:
                self.metrics.checkpoint_failures.inc()
                raise
            self._latest = stored
            self.metrics.checkpoint_issued(size)
            if self._witnessing is not None:
                self._witnessing.submit(stored)
            return note

    def _checkpoint_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            latest = self._latest
            if latest is not None and latest.size == self.size:
                continue
            try:
                self.checkpoint()
            except Exception:
                log.exception("audit checkpoint failed")

    # -- shutdown ---------------------------------------------------------------------------
    def close(self) -> None:
        """Flush pending entries, sign a last checkpoint if the log grew, and close the store."""
        self._stop.set()
        with self._pending_lock:
            self._closed = True
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # callers already queued are still answered
            with self._pending_lock:
                if not self._leading and not self._pending:
                    break
            time.sleep(0.005)
        if self._timer is not None:
            self._timer.join(timeout=30)
        if self._signer is not None:
            try:
                self.checkpoint()
            except Exception:
                log.exception("final audit checkpoint failed")
        if self._witnessing is not None:  # the final checkpoint is submitted at the next start
            self._witnessing.close()
        self.store.close()
