"""The metrics aidlink's code exposes, read from the real metric definitions."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

#: The samples each metric type exposes, by suffix.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def exposed_metrics() -> dict[str, frozenset[str]]:
    """Sample name -> label names, for every metric the matcher, the gateways and the audit log
    define (histogram buckets also carry `le`)."""
    from aidlink.audit.metrics import AuditMetrics
    from aidlink.audit.witnessing import WitnessMetrics
    from aidlink.matcher.service import MatcherServicer
    from aidlink.observability.metrics import RpcMetrics

    registry = CollectorRegistry()
    owners = [
        RpcMetrics("matcher", registry),
        AuditMetrics(registry),
        WitnessMetrics(registry),
        MatcherServicer(None, registry=registry),
    ]  # the servicer's exchange is never used here
    exposed: dict[str, frozenset[str]] = {}
    for owner in owners:
        for metric in vars(owner).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            family = metric.describe()[0]
            labels = frozenset(metric._labelnames)  # prometheus_client keeps them only privately
            for suffix in _SUFFIXES[family.type]:
                exposed[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return exposed
