"""Prometheus metrics of the similarity join, one set per registry."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

PARTITION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


@dataclass(frozen=True)
class JoinMetrics:
    partition_seconds: Histogram  # aidlink_join_partition_seconds{backend, dataset}
    retries: Counter  # aidlink_join_partition_retries_total{backend, dataset}


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, JoinMetrics] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def join_metrics(registry: CollectorRegistry) -> JoinMetrics:
    """The join metrics registered in ``registry`` (created on first use, then shared)."""
    with _LOCK:
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = JoinMetrics(
                Histogram(
                    "aidlink_join_partition_seconds",
                    "Time one partition of the similarity join took on its worker",
                    ["backend", "dataset"],
                    buckets=PARTITION_BUCKETS,
                    registry=registry,
                ),
                Counter(
                    "aidlink_join_partition_retries",
                    "Join partitions run again after a worker or its data was lost",
                    ["backend", "dataset"],
                    registry=registry,
                ),
            )
            _BY_REGISTRY[registry] = metrics
        return metrics
