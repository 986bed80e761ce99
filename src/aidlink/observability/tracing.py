"""OpenTelemetry tracing, configured the standard way.

- **Exporters** follow the ``OTEL_*`` environment variables of the OpenTelemetry specification:
  ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``, comma-separated), the OTLP exporter's
  own ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``…_HEADERS`` /
  ``…_CERTIFICATE`` / ``…_INSECURE``, ``OTEL_SDK_DISABLED``, ``OTEL_RESOURCE_ATTRIBUTES`` and
  ``OTEL_SERVICE_NAME``. One deliberate difference from the specification's default: with neither
  ``OTEL_TRACES_EXPORTER`` nor an OTLP endpoint set, spans are not exported (the specification
  would send them to localhost:4317, which a government host rarely runs, and log a connection
  error every few seconds). ``AIDLINK_TRACE_CONSOLE=1`` is kept as a shorthand for ``console``.
- **Service names**: each component names itself (``aidlink-matcher``, ``aidlink-gateway-mca``,
  ``aidlink-dask-worker``) unless ``OTEL_SERVICE_NAME`` says otherwise; ``aidlink.component`` and
  ``aidlink.department`` are resource attributes. Each name has its own tracer provider, so the
  demo's matcher and gateways, which share one process, still report as separate services.
- **Spans**: one per RPC from the maintained opentelemetry-instrumentation-grpc interceptors,
  whose context travels gateway → matcher in the call metadata; application spans
  (:func:`span`) for the join, the audit append and encoding; :func:`carrier` and
  :func:`span_from` carry the context into Dask tasks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter, SpanProcessor

TRACER_NAME = "aidlink"
_lock = threading.Lock()
_providers: dict[str, TracerProvider] = {}
_extra_processors: list[SpanProcessor] = []


class TracingSettingsError(ValueError):
    """An OTEL_* variable names something aidlink cannot do."""


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters the environment asks for (empty: none)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not names:
        if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            names = ["otlp"]
        if environ.get("AIDLINK_TRACE_CONSOLE") == "1":
            names.append("console")
    unknown = [n for n in names if n not in ("otlp", "console", "none")]
    if unknown:
        raise TracingSettingsError(
            f"OTEL_TRACES_EXPORTER={environ.get('OTEL_TRACES_EXPORTER')!r}: {', '.join(unknown)} is not supported "
            "(use otlp, console or none)"
        )
    return [n for n in names if n != "none"]


def check_tracing_settings(environ: Mapping[str, str] = os.environ) -> None:
    """Raise TracingSettingsError, naming the variable, if the OTEL_* settings cannot be honoured
    (services check this at start-up, before any span is made)."""
    if "otlp" in exporter_names(environ):
        _otlp_protocol(environ)


def _otlp_protocol(environ: Mapping[str, str] = os.environ) -> str:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    if protocol != "grpc":
        raise TracingSettingsError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: aidlink exports OTLP over grpc only")
    return protocol


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    _otlp_protocol()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # reads the OTEL_EXPORTER_OTLP_* variables itself


def service_name_for(component: str, department: str | None = None) -> str:
    return f"aidlink-{component}" + (f"-{department}" if department else "")


def tracer_provider(component: str = "process", department: str | None = None) -> TracerProvider:
    """The provider for one component (created once per service name; the first becomes global)."""
    name = service_name_for(component, department)
    with _lock:
        provider = _providers.get(name)
        if provider is None:
            attributes: dict[str, Any] = {"service.namespace": "aidlink", "aidlink.component": component}
            if department:
                attributes["aidlink.department"] = department
            if not os.environ.get("OTEL_SERVICE_NAME"):
                attributes["service.name"] = name
            provider = TracerProvider(resource=Resource.create(attributes))
            for exporter in exporter_names():
                provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
            for processor in _extra_processors:
                provider.add_span_processor(processor)
            if not _providers:
                trace.set_tracer_provider(provider)
            _providers[name] = provider
        return provider


def add_span_processor(processor: SpanProcessor) -> None:
    """Send every component's spans, now and later, to `processor` as well (tests, in-process tools)."""
    with _lock:
        _extra_processors.append(processor)
        providers = list(_providers.values())
    for provider in providers:
        provider.add_span_processor(processor)


def configure_tracing(service_name: str = "process", processor: SpanProcessor | None = None) -> TracerProvider:
    """Compatibility entry point: the provider for `service_name`, plus an extra processor."""
    if processor is not None:
        add_span_processor(processor)
    return tracer_provider(service_name)


def shutdown() -> None:
    """Flush and stop every provider (at process exit, so batched spans are not lost)."""
    with _lock:
        providers = list(_providers.values())
    for provider in providers:
        provider.shutdown()


def server_interceptor(component: str = "process", department: str | None = None):
    from opentelemetry.instrumentation.grpc import server_interceptor as otel_server

    return otel_server(tracer_provider=tracer_provider(component, department))


def traced_channel(channel, component: str = "process", department: str | None = None):
    """`channel` with client spans whose context travels in the call metadata."""
    from opentelemetry.instrumentation.grpc import client_interceptor as otel_client
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    return intercept_channel(channel, otel_client(tracer_provider=tracer_provider(component, department)))


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """An application span, child of the current one (the RPC's server span when inside a call).

    It is recorded by the process's global provider: in production each process runs one
    component, so that is the component's own; in the one-process demo it is the first created.
    """
    if not _providers:  # no component configured yet (a CLI command, a test): the process's own
        tracer_provider()
    tracer = trace.get_tracer_provider().get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(name, attributes={k: v for k, v in attributes.items() if v is not None}) as s:
        yield s


def carrier() -> dict[str, str]:
    """The current trace context as a plain dict (W3C traceparent), to hand to another process."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


@contextmanager
def span_from(headers: Mapping[str, str] | None, name: str, component: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span in another process (a Dask worker) continuing the trace `headers` came from."""
    tracer = tracer_provider(component).get_tracer(TRACER_NAME)
    context = propagate.extract(dict(headers or {}))
    clean = {k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(name, context=context, attributes=clean) as s:
        yield s
