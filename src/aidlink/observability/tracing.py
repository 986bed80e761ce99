"""OpenTelemetry tracing: one span per RPC, context propagated gateway → matcher.

Uses the maintained opentelemetry-instrumentation-grpc interceptors rather than
hand-written propagation. The tracer provider is process-wide (OpenTelemetry's
model); `configure_tracing` installs one once and returns it.
"""

from __future__ import annotations

import os
import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanProcessor

_lock = threading.Lock()
_provider: TracerProvider | None = None


def configure_tracing(service_name: str = "aidlink", processor: SpanProcessor | None = None) -> TracerProvider:
    """Install a tracer provider once per process. AIDLINK_TRACE_CONSOLE=1 prints spans."""
    global _provider
    with _lock:
        if _provider is None:
            _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            if os.environ.get("AIDLINK_TRACE_CONSOLE") == "1":
                _provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
            trace.set_tracer_provider(_provider)
        if processor is not None:
            _provider.add_span_processor(processor)
        return _provider


def server_interceptor():
    from opentelemetry.instrumentation.grpc import server_interceptor as otel_server

    return otel_server(tracer_provider=configure_tracing())


def traced_channel(channel):
    """`channel` with client spans whose context travels in the call metadata."""
    from opentelemetry.instrumentation.grpc import client_interceptor as otel_client
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    return intercept_channel(channel, otel_client(tracer_provider=configure_tracing()))
