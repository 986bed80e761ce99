"""Prometheus metrics of the audit log: size, checkpoint age, append latency, refusals."""

from __future__ import annotations

import math
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from aidlink.audit.entry import AuditEntry


class AuditMetrics:
    """The audit log's metrics, registered in `registry` (a fresh one when None)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._checkpoint_time: float | None = None
        self._by_outcome: dict[tuple[str, str], Counter] = {}
        self._refused_by_department: dict[str, Counter] = {}
        self.size = Gauge("aidlink_audit_log_size", "Entries durably stored in the audit log", registry=self.registry)
        self.checkpoint_size = Gauge(
            "aidlink_audit_checkpoint_size", "Tree size of the latest signed checkpoint", registry=self.registry
        )
        self.checkpoint_age = Gauge(
            "aidlink_audit_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint was issued (NaN before the first)",
            registry=self.registry,
        )
        self.checkpoint_age.set_function(self._age)
        self.append_latency = Histogram(
            "aidlink_audit_append_seconds",
            "Time from asking to append an entry until it is durable",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "aidlink_audit_commit_batch_entries",
            "Entries written per group commit",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
            registry=self.registry,
        )
        self.entries = Counter(
            "aidlink_audit_entries",
            "Entries appended, by outcome and caller's department",
            ["outcome", "department"],
            registry=self.registry,
        )
        self.refused = Counter(
            "aidlink_audit_refused_calls",
            "Refused calls recorded, by department",
            ["department"],
            registry=self.registry,
        )
        self.append_failures = Counter(
            "aidlink_audit_append_failures",
            "Entries the store could not record (the calls were refused: fail closed)",
            registry=self.registry,
        )
        self.checkpoint_failures = Counter(
            "aidlink_audit_checkpoint_failures",
            "Checkpoints that could not be signed or stored",
            registry=self.registry,
        )

    def entry_recorded(self, entry: AuditEntry) -> None:
        """Count one durably recorded entry (label children cached: this runs per call)."""
        key = (entry.outcome, entry.department or "(unauthenticated)")
        counter = self._by_outcome.get(key)
        if counter is None:
            counter = self._by_outcome[key] = self.entries.labels(*key)
        counter.inc()
        if entry.outcome == "refused":
            department = entry.department or "(unauthenticated)"
            refused = self._refused_by_department.get(department)
            if refused is None:
                refused = self._refused_by_department[department] = self.refused.labels(department)
            refused.inc()

    def checkpoint_issued(self, size: int, at: float | None = None) -> None:
        self.checkpoint_size.set(size)
        self._checkpoint_time = time.time() if at is None else at

    def _age(self) -> float:
        return math.nan if self._checkpoint_time is None else time.time() - self._checkpoint_time
