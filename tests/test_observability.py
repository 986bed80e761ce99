"""Ops baseline: Prometheus metrics over HTTP and traces propagated gateway → matcher."""

from __future__ import annotations

import urllib.request

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

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


def test_matcher_exposes_prometheus_metrics(run):
    _, text, _ = run
    assert (
        'aidlink_rpc_requests_total{code="OK",component="matcher",method="/aidlink.v1.Matcher/UploadDataset"} 2.0'
    ) in text
    assert 'aidlink_rpc_duration_seconds_bucket{component="matcher",le="0.005"' in text
    assert 'aidlink_records_uploaded_total{department="edu"}' in text
    assert "aidlink_pairs_compared_total" in text
    assert "aidlink_audit_log_size" in text


def test_gateway_counts_its_calls(run):
    _, _, text = run
    assert 'method="/aidlink.v1.Gateway/CompareDataset"' in text and 'code="OK"' in text


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
