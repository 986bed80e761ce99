"""The Grafana dashboard: valid JSON, well-formed panels, and every query parses and names only
metrics and labels that aidlink's code really exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deploy.validation import promql
from deploy.validation.metric_names import exposed_metrics

DASHBOARD = Path(__file__).parents[1] / "deploy" / "grafana" / "aidlink-dashboard.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def exposed() -> dict[str, frozenset[str]]:
    return exposed_metrics()


def _panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _expressions(dashboard: dict) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels(dashboard) for t in p["targets"]]


def test_dashboard_is_well_formed(dashboard):
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    for panel in _panels(dashboard):
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    used = {m for _, expr in _expressions(dashboard) for m in re.findall(r"\$(\w+)", expr)} - {
        "__rate_interval",
        "__range",
        "__interval",
    }
    assert used <= variables


def test_every_query_references_exposed_metrics_and_labels(dashboard, exposed):
    for title, expr in _expressions(dashboard):
        plain = promql.without_grafana_variables(expr)
        assert promql.reference_problems(plain, exposed) == [], title


def test_variable_queries_use_exposed_metrics_and_labels(dashboard, exposed):
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
        assert match, variable["name"]
        selector, label = match.groups()
        plain = promql.without_grafana_variables(selector)
        assert promql.reference_problems(plain, exposed) == [], variable["name"]
        [sel] = promql.selectors(plain)
        assert label in exposed[sel.metric] | promql.TARGET_LABELS, variable["name"]


def test_dashboard_shows_what_operators_watch(dashboard):
    referenced = {
        sel.metric
        for _, expr in _expressions(dashboard)
        for sel in promql.selectors(promql.without_grafana_variables(expr))
    }
    assert {
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
        "aidlink_audit_refused_calls_total",
        "aidlink_audit_log_size",
        "aidlink_audit_checkpoint_age_seconds",
        "aidlink_audit_append_seconds_bucket",
        "aidlink_records_uploaded_total",
        "aidlink_pairs_compared_total",
    } <= referenced
    quantiles = {
        float(q)
        for _, expr in _expressions(dashboard)
        for q in re.findall(r"histogram_quantile\(([0-9.]+), sum by \(le\) \(rate\(grpc_server_handling_seconds", expr)
    }
    assert quantiles == {0.5, 0.95, 0.99}
    by_method_and_code = [
        e for _, e in _expressions(dashboard) if "grpc_server_handled_total" in e and "by (grpc_method, grpc_code)" in e
    ]
    assert by_method_and_code


def test_reference_check_reports_misspelled_metrics_and_labels(exposed):
    assert promql.reference_problems("rate(grpc_server_handle_total[5m])", exposed)
    assert promql.reference_problems('rate(aidlink_audit_refused_calls_total{dept="edu"}[5m])', exposed)
    assert promql.reference_problems("sum(rate(aidlink_pairs_compared_total[5m])", exposed)  # syntax
    assert promql.reference_problems('rate(grpc_server_handled_total{code="OK"}[5m])', exposed)  # grpc_code
    assert promql.reference_problems('rate(grpc_server_handled_total{grpc_code="OK",job="m"}[5m])', exposed) == []
