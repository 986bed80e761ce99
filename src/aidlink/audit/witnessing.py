"""Each new checkpoint of the audit log goes to the configured witnesses, in the background.

One thread per witness submits the newest stored checkpoint with a consistency proof
from the size that witness last cosigned, and stores the returned cosignature beside
the checkpoint (audit_cosignatures). A witness that is down, slow or refusing never
delays or stops a call: the log keeps appending and checkpointing, the failure is
logged and counted (``aidlink_audit_witness_failures_total``), and the witness is
retried (every `retry_interval` seconds, doubling up to 2 minutes) until it cosigns.
A witness answering a size larger than the log's own is reported loudly: the log was
rolled back since that witness last saw it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from aidlink.audit.entry import utc_now
from aidlink.audit.store import SQLAuditStore, StoredCheckpoint
from aidlink.witness.client import (
    WitnessClient,
    WitnessClientError,
    WitnessConflict,
    WitnessEndpoint,
    WitnessRefused,
)
from aidlink.witness.cosignature import CosignatureError, find_cosignature

log = logging.getLogger("aidlink.audit.witness")

DEFAULT_RETRY_INTERVAL = 5.0
MAX_RETRY_INTERVAL = 120.0

ConsistencyProver = Callable[[int, int], list[bytes]]


class WitnessMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.cosigned_size = Gauge(
            "aidlink_audit_witness_cosigned_size",
            "Tree size of the newest checkpoint each witness cosigned",
            ["witness"],
            registry=registry,
        )
        self.behind = Gauge(
            "aidlink_audit_witness_behind",
            "1 while the newest checkpoint is not yet cosigned by the witness (down, refusing or in flight)",
            ["witness"],
            registry=registry,
        )
        self.failures = Counter(
            "aidlink_audit_witness_failures",
            "Submissions to a witness that did not return a cosignature, by reason",
            ["witness", "reason"],
            registry=registry,
        )


class _WitnessWorker:
    def __init__(self, submitter: WitnessSubmitter, endpoint: WitnessEndpoint) -> None:
        self.submitter = submitter
        self.endpoint = endpoint
        self.name = endpoint.verifier.name
        self.client = WitnessClient(endpoint)
        self.known_size = self._cosigned_size()
        self.cosigned_number = 0
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"audit-witness-{self.name}", daemon=True)
        submitter.metrics.cosigned_size.labels(self.name).set(self.known_size)

    def _cosigned_size(self) -> int:
        """The largest size this witness cosigned, from the cosignatures stored beside the checkpoints."""
        store = self.submitter.store
        notes = {c.number: c for c in store.checkpoints()}
        best = 0
        for stored in store.cosignatures():
            cp = notes.get(stored.checkpoint)
            if stored.witness != self.name or cp is None:
                continue
            try:
                find_cosignature(cp.note + stored.line.encode() + b"\n", self.endpoint.verifier)
            except CosignatureError:
                continue
            best = max(best, cp.size)
        return best

    def _run(self) -> None:
        delay = self.submitter.retry_interval
        stop = self.submitter.stopping
        while not stop.is_set():
            target = self.submitter.latest
            if target is None or target.number == self.cosigned_number:
                self.wake.wait(timeout=MAX_RETRY_INTERVAL)
                self.wake.clear()
                continue
            if self._submit(target):
                delay = self.submitter.retry_interval
                continue
            self.wake.wait(timeout=delay)  # a newer checkpoint wakes it early
            self.wake.clear()
            delay = min(delay * 2, MAX_RETRY_INTERVAL)

    def _submit(self, target: StoredCheckpoint) -> bool:
        metrics = self.submitter.metrics
        metrics.behind.labels(self.name).set(1)
        for _ in range(3):  # a 409 tells the witness's size: resubmit from there
            if self.known_size > target.size:
                metrics.failures.labels(self.name, "rollback").inc()
                log.error(
                    "audit witness %s has cosigned size %d but the log's newest checkpoint is size %d: "
                    "the audit log was rolled back or replaced (run `aidlink audit verify --witness-key …`)",
                    self.name,
                    self.known_size,
                    target.size,
                )
                return False
            try:
                proof = (
                    self.submitter.consistency_proof(self.known_size, target.size)
                    if 0 < self.known_size < target.size
                    else []
                )
                cosigned = self.client.add_checkpoint(self.known_size, proof, target.note)
            except WitnessConflict as conflict:
                if conflict.size is None or conflict.size == self.known_size:
                    metrics.failures.labels(self.name, "refused").inc()
                    log.error("audit witness %s refused size %d: %s", self.name, target.size, conflict)
                    return False
                self.known_size = conflict.size
                continue
            except WitnessRefused as refused:
                metrics.failures.labels(self.name, "refused").inc()
                log.error(
                    "audit witness %s refused checkpoint size %d (not consistent with what it cosigned, "
                    "or not signed by the key it trusts): %s",
                    self.name,
                    target.size,
                    refused,
                )
                return False
            except (WitnessClientError, ValueError) as exc:
                metrics.failures.labels(self.name, "unreachable").inc()
                log.warning("audit witness %s: %s; retrying", self.name, exc)
                return False
            line = cosigned[len(target.note) :].decode("utf-8").rstrip("\n").split("\n")[-1]
            try:
                self.submitter.store.append_cosignature(target.number, self.name, utc_now(), line)
            except Exception as exc:  # the cosignature is not lost to the witness; retried later
                metrics.failures.labels(self.name, "store").inc()
                log.error("audit witness %s: cosignature could not be stored: %s", self.name, exc)
                return False
            self.known_size = target.size
            self.cosigned_number = target.number
            metrics.cosigned_size.labels(self.name).set(target.size)
            metrics.behind.labels(self.name).set(0 if self.submitter.latest is target else 1)
            log.info("audit witness %s cosigned size %d", self.name, target.size)
            return True
        return False


class WitnessSubmitter:
    """Submits the audit log's newest checkpoint to each witness; `submit` never blocks."""

    def __init__(
        self,
        store: SQLAuditStore,
        consistency_proof: ConsistencyProver,
        endpoints: Sequence[WitnessEndpoint],
        registry: CollectorRegistry | None = None,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
    ) -> None:
        self.store = store
        self.consistency_proof = consistency_proof
        self.retry_interval = retry_interval
        self.metrics = WitnessMetrics(registry)
        self.stopping = threading.Event()
        self.latest: StoredCheckpoint | None = store.latest_checkpoint()
        self.workers = [_WitnessWorker(self, endpoint) for endpoint in endpoints]
        for worker in self.workers:
            worker.thread.start()

    def submit(self, checkpoint: StoredCheckpoint) -> None:
        """The log stored `checkpoint`: have every witness cosign it (in the background)."""
        self.latest = checkpoint
        for worker in self.workers:
            worker.wake.set()

    def close(self, timeout: float = 2.0) -> None:
        """Stop submitting (a submission in flight may finish within `timeout`)."""
        self.stopping.set()
        for worker in self.workers:
            worker.wake.set()
        for worker in self.workers:
            worker.thread.join(timeout=timeout)
