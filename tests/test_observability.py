"""Ops baseline: Prometheus metrics over HTTP and traces propagated gateway → matcher."""

from __future__ import annotations

import urllib.request

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.observability.tracing import configure_tracing
from aidlink.v1 import common_pb2, gateway_pb2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    exporter = InMemorySpanExporter()
    configure_tracing(processor=SimpleSpanProcessor(exporter))
    population = SyntheticPopulation.generate(800, seed=4)
    with LoopbackDeployment(
        tmp_path_factory.mktemp("obs"), departments=("mca", "edu"), matcher_metrics=True
    ) as deployment:
        for dept, dataset, entry, attrs in (
            ("mca", "low-income", "mca.low-income", ["category", "school_age"]),
            ("edu", "students", "edu.students", ["assistance"]),
        ):
            submit_rows(
                deployment.nodes[dept].stub,
                gateway_pb2.SubmitHeader(
                    dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs
                ),
                department_extract(population, dept, seed=4).rows,
            )
        list(
            deployment.nodes["edu"].stub.CompareDataset(
                gateway_pb2.GatewayCompareRequest(
                    my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
                )
            )
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{deployment.matcher.metrics_port}/metrics") as resp:
            matcher_metrics = resp.read().decode()
        gateway_metrics = generate_latest(deployment.nodes["edu"].server.metrics.registry).decode()
        yield exporter.get_finished_spans(), matcher_metrics, gateway_metrics


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` whose labels include `labels` (None: no such sample)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and labels.items() <= s.labels.items():
                return s.value
    return None


UPLOAD = dict(component="matcher", grpc_service="aidlink.v1.Matcher", grpc_method="UploadDataset")


def test_matcher_exposes_grpc_ecosystem_metrics(run):
    _, text, _ = run
    assert sample(text, "grpc_server_handled_total", **UPLOAD, grpc_type="client_stream", grpc_code="OK") == 2
    assert sample(text, "grpc_server_started_total", **UPLOAD, grpc_type="client_stream") == 2
    assert sample(text, "aidlink_grpc_server_in_flight", **UPLOAD) == 0
    assert sample(text, "grpc_server_msg_received_total", **UPLOAD) > 2  # header and record batches, each counted
    assert sample(text, "grpc_server_msg_sent_total", **UPLOAD) == 2  # one answer per upload
    assert sample(text, "grpc_server_handling_seconds_count", **UPLOAD) == 2
    assert sample(text, "grpc_server_handling_seconds_bucket", **UPLOAD, le="300.0") == 2
    # no private per-path names any more
    assert "aidlink_rpc_requests_total" not in text and "/aidlink.v1.Matcher/" not in text


def test_matcher_keeps_its_domain_metrics(run):
    _, text, _ = run
    assert sample(text, "aidlink_records_uploaded_total", department="edu") > 0
    assert "aidlink_pairs_compared_total" in text
    assert "aidlink_audit_log_size" in text


def test_gateway_counts_its_calls(run):
    _, _, text = run
    compare = dict(component="gateway-edu", grpc_service="aidlink.v1.Gateway", grpc_method="CompareDataset")
    assert sample(text, "grpc_server_handled_total", **compare, grpc_type="server_stream", grpc_code="OK") == 1
    assert sample(text, "grpc_server_msg_sent_total", **compare) >= 2  # progress events, matches, the summary


def test_trace_context_travels_from_gateway_to_matcher(run):
    spans, _, _ = run
    by_name = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    gateway_server = by_name["/aidlink.v1.Gateway/CompareDataset"][0]
    matcher_server = [s for s in by_name["/aidlink.v1.Matcher/CompareDatasets"] if s.kind.name == "SERVER"][0]
    assert matcher_server.context.trace_id == gateway_server.context.trace_id
    # the matcher's span descends from the gateway's client call, itself inside the gateway's server span
    client = next(s for s in spans if s.context.span_id == matcher_server.parent.span_id)
    assert client.kind.name == "CLIENT"
    assert client.parent.span_id == gateway_server.context.span_id


def test_each_component_reports_its_own_service_name(run):
    spans, _, _ = run
    gateway = next(s for s in spans if s.name == "/aidlink.v1.Gateway/CompareDataset")
    matcher = next(s for s in spans if s.name == "/aidlink.v1.Matcher/CompareDatasets" and s.kind.name == "SERVER")
    assert gateway.resource.attributes["service.name"] == "aidlink-gateway-edu"
    assert gateway.resource.attributes["aidlink.department"] == "edu"
    assert matcher.resource.attributes["service.name"] == "aidlink-matcher"


def test_application_spans_sit_inside_the_calls_that_cause_them(run):
    spans, _, _ = run
    by_id = {s.context.span_id: s for s in spans}

    def ancestors(span):
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            yield span

    [compare] = [s for s in spans if s.name == "/aidlink.v1.Matcher/CompareDatasets" and s.kind.name == "SERVER"]
    [join] = [s for s in spans if s.name == "aidlink.join" and s.context.trace_id == compare.context.trace_id]
    assert compare in ancestors(join)
    assert join.attributes["aidlink.join.kind"] == "missing-aware blocked"  # the default schema (v2), blocked
    assert join.attributes["aidlink.join.links"] > 0
    appends = [s for s in spans if s.name == "aidlink.audit.append" and s.context.trace_id == compare.context.trace_id]
    assert appends and all(
        a.attributes["aidlink.audit.method"] == "/aidlink.v1.Matcher/CompareDatasets" for a in appends
    )
    encodes = [s for s in spans if s.name == "aidlink.encode"]
    assert {e.attributes["aidlink.dataset"] for e in encodes} == {"low-income", "students"}
    for encode in encodes:  # the upload's client call runs inside the encoding span
        uploads = [s for s in spans if s.name == "/aidlink.v1.Matcher/UploadDataset" and s.kind.name == "CLIENT"]
        assert any(encode in ancestors(u) for u in uploads)
        assert encode.attributes["aidlink.records"] >= encode.attributes["aidlink.records_accepted"] > 0
