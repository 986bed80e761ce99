"""PromQL checks: expressions parse, and name only metrics (and labels) that aidlink exposes."""

from __future__ import annotations

import re
from dataclasses import dataclass

import promql_parser

#: Labels Prometheus (and the ServiceMonitor's targetLabels) put on every scraped series.
TARGET_LABELS = frozenset(
    {
        "job",
        "instance",
        "namespace",
        "pod",
        "service",
        "container",
        "endpoint",
        "app_kubernetes_io_component",
        "aidlink_department",
    }
)
#: Series from Prometheus itself that alerts and panels may use.
PROMETHEUS_SERIES = frozenset({"up"})
#: Grafana's built-in interval variables, replaced by a duration before parsing.
_GRAFANA_DURATIONS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


@dataclass(frozen=True)
class Selector:
    metric: str
    labels: tuple[str, ...]  # the label names the selector matches on


def without_grafana_variables(expr: str) -> str:
    """The expression with Grafana's variables replaced: durations by durations, others by '.*'
    (they stand inside regex matchers such as namespace=~"$namespace")."""
    for variable, duration in _GRAFANA_DURATIONS.items():
        expr = expr.replace(variable, duration)
    return _GRAFANA_VARIABLE.sub(".*", expr)


def selectors(expr: str) -> list[Selector]:
    """Every vector selector in the expression (raises ValueError when it does not parse)."""
    found: list[Selector] = []

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names = tuple(m.name for m in node.matchers.matchers if m.name != "__name__")
            found.append(Selector(node.name or "", names))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def syntax_problems(expr: str) -> list[str]:
    try:
        promql_parser.parse(expr)
    except ValueError as exc:
        return [f"does not parse ({exc}): {expr}"]
    return []


def reference_problems(expr: str, exposed: dict[str, frozenset[str]]) -> list[str]:
    """Metrics and label matchers in `expr` that nothing exposes. `exposed` maps each sample name
    (e.g. grpc_server_handled_total, grpc_server_handling_seconds_bucket) to its label names."""
    try:
        found = selectors(expr)
    except ValueError as exc:
        return [f"does not parse ({exc}): {expr}"]
    out: list[str] = []
    for sel in found:
        if sel.metric in PROMETHEUS_SERIES:
            continue
        if sel.metric not in exposed:
            out.append(f"metric {sel.metric!r} is not exposed by aidlink (expression: {expr})")
            continue
        unknown = [label for label in sel.labels if label not in exposed[sel.metric] | TARGET_LABELS]
        if unknown:
            out.append(
                f"metric {sel.metric!r} has no label {', '.join(map(repr, unknown))} "
                f"(it has {sorted(exposed[sel.metric])}; expression: {expr})"
            )
    return out
