"""Traces leave the process the standard way: the OTLP exporter configured by OTEL_* variables.

A real OTLP/gRPC receiver on loopback (the collector's TraceService from opentelemetry-proto)
gets the spans a separate aidlink process exports; the exporter choice follows the variables;
a Dask task continues the trace of the compare that sent it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aidlink.observability import tracing
from aidlink.observability.tracing import TracingSettingsError, exporter_names


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.arrived = threading.Event()

    def Export(self, request, context):
        self.requests.append(request)
        self.arrived.set()
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[str, str]]:
        """(service.name, span name) of every span received."""
        return [(service, span.name) for service, span in self.received()]

    def received(self) -> list[tuple[str, Any]]:
        """(service.name, OTLP span) of every span received."""
        out = []
        for request in self.requests:
            for rs in request.resource_spans:
                service = next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
                out.extend((service, s) for ss in rs.scope_spans for s in ss.spans)
        return out


@pytest.fixture
def collector():
    servicer = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"http://127.0.0.1:{port}"
    finally:
        server.stop(None)


_EXPORTING_PROCESS = """
from aidlink.observability import tracing
provider = tracing.tracer_provider("matcher")
with provider.get_tracer("t").start_as_current_span("/aidlink.v1.Matcher/CompareDatasets"):
    with tracing.span("aidlink.join", **{"aidlink.join.kind": "blocked"}):
        pass
tracing.shutdown()  # flushes the batch processor
"""


def _run_exporting_process(endpoint: str, **extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "AIDLINK_TRACE_CONSOLE"}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_INSECURE="true", **extra)
    done = subprocess.run([sys.executable, "-c", _EXPORTING_PROCESS], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


def test_spans_reach_an_otlp_collector_named_by_the_component(collector):
    servicer, endpoint = collector
    _run_exporting_process(endpoint)
    assert servicer.arrived.wait(10)
    assert set(servicer.spans()) == {
        ("aidlink-matcher", "/aidlink.v1.Matcher/CompareDatasets"),
        ("aidlink-matcher", "aidlink.join"),
    }


_EXCHANGE_PROCESS = """
import sys
from pathlib import Path
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.observability import tracing
from aidlink.v1 import common_pb2, gateway_pb2

population = SyntheticPopulation.generate(300, seed=5)
with LoopbackDeployment(Path(sys.argv[1]), departments=("mca", "edu")) as deployment:
    for dept, dataset, entry, attrs in (
        ("mca", "low-income", "mca.low-income", ["category", "school_age"]),
        ("edu", "students", "edu.students", ["assistance"]),
    ):
        header = gateway_pb2.SubmitHeader(
            dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs
        )
        submit_rows(deployment.nodes[dept].stub, header, department_extract(population, dept, seed=5).rows)
    request = gateway_pb2.GatewayCompareRequest(
        my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
    )
    list(deployment.nodes["edu"].stub.CompareDataset(request))
tracing.shutdown()
"""


def test_gateway_and_matcher_spans_reach_the_collector_in_one_trace(collector, tmp_path):
    servicer, endpoint = collector
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "AIDLINK_TRACE_CONSOLE"}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_INSECURE="true")
    done = subprocess.run(
        [sys.executable, "-c", _EXCHANGE_PROCESS, str(tmp_path)], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    received = servicer.received()
    [gateway] = [s for svc, s in received if svc == "aidlink-gateway-edu" and s.name.endswith("/CompareDataset")]
    matcher = [
        (svc, s) for svc, s in received if s.name.endswith("Matcher/CompareDatasets") and s.kind == s.SPAN_KIND_SERVER
    ]
    assert [svc for svc, _ in matcher] == ["aidlink-matcher"]
    assert matcher[0][1].trace_id == gateway.trace_id  # one trace across two services
    in_trace = {(svc, s.name) for svc, s in received if s.trace_id == gateway.trace_id}
    assert ("aidlink-matcher", "aidlink.join") in in_trace and ("aidlink-matcher", "aidlink.audit.append") in in_trace


def test_otel_service_name_overrides_the_components_name(collector):
    servicer, endpoint = collector
    _run_exporting_process(endpoint, OTEL_SERVICE_NAME="jiangsu-matcher")
    assert servicer.arrived.wait(10)
    assert {service for service, _ in servicer.spans()} == {"jiangsu-matcher"}


def test_exporter_none_sends_nothing(collector):
    servicer, endpoint = collector
    _run_exporting_process(endpoint, OTEL_TRACES_EXPORTER="none")
    assert servicer.requests == []  # the process has exited and flushed: nothing was sent


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),  # nothing configured: no export (and no connection errors to localhost:4317)
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
        ({"AIDLINK_TRACE_CONSOLE": "1"}, ["console"]),
    ],
)
def test_exporters_follow_the_otel_variables(environ, expected):
    assert exporter_names(environ) == expected


def test_an_unknown_exporter_is_named_in_the_error():
    with pytest.raises(TracingSettingsError, match="zipkin is not supported"):
        exporter_names({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_a_dask_task_continues_the_compares_trace():
    from aidlink.matcher.distributed.tasks import join_partition

    exporter = InMemorySpanExporter()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    rng = np.random.default_rng(7)
    shard = rng.integers(0, 256, size=(40, 128), dtype=np.uint8)
    with tracing.span("compare") as parent:
        headers = tracing.carrier()
    answer = join_partition(shard, shard[:5], None, 0.9, 1, headers)
    assert answer.pairs.a_index.size >= 5  # each query row finds itself
    [partition] = [s for s in exporter.get_finished_spans() if s.name == "aidlink.join.partition"]
    assert partition.context.trace_id == parent.get_span_context().trace_id
    assert partition.parent.span_id == parent.get_span_context().span_id
    assert partition.resource.attributes["service.name"] == "aidlink-dask-worker"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_TRACES_EXPORTER", "zipkin"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
)
def test_a_service_with_unusable_otel_settings_stops_in_one_line(monkeypatch, capsys, variable, value):
    from aidlink.cli.main import main

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4317")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        main(["matcher", "serve", "--insecure-dev", "--listen", "127.0.0.1:0"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and variable in err and value in err
