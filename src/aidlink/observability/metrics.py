"""Prometheus metrics for aidlink's gRPC servers, as an interceptor, under the grpc-ecosystem names.

The names and labels are those of go-grpc-prometheus / py-grpc-prometheus, so the stock gRPC
dashboards and alerts work unchanged:

- ``grpc_server_started_total{grpc_type, grpc_service, grpc_method}``
- ``grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}``
- ``grpc_server_msg_received_total`` / ``grpc_server_msg_sent_total``
- ``grpc_server_handling_seconds`` (histogram)

``grpc_code`` is spelled as Go spells it (``OK``, ``PermissionDenied``, ``Canceled``, …).
``grpc_type`` is ``unary``, ``client_stream``, ``server_stream`` or ``bidi_stream``. Every
series also carries ``component`` (``matcher``, ``gateway-mca``) because the demo runs several
servers in one process. aidlink adds ``aidlink_grpc_server_in_flight`` (calls being handled now).

Each server gets its own registry so that several servers in one process do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# grpc.StatusCode name -> the Go name the grpc-ecosystem metrics use
GO_CODE_NAMES = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_LABELS = ["component", "grpc_type", "grpc_service", "grpc_method"]


def grpc_type(request_streaming: bool, response_streaming: bool) -> str:
    if request_streaming:
        return "bidi_stream" if response_streaming else "client_stream"
    return "server_stream" if response_streaming else "unary"


def split_method(full_method: str) -> tuple[str, str]:
    """'/aidlink.v1.Matcher/UploadDataset' -> ('aidlink.v1.Matcher', 'UploadDataset')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or full_method


class RpcMetrics:
    def __init__(self, component: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.component = component
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server", _LABELS, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, regardless of success or failure",
            [*_LABELS, "grpc_code"],
            registry=self.registry,
        )
        self.received = Counter(
            "grpc_server_msg_received_total",
            "RPC stream messages received on the server",
            _LABELS,
            registry=self.registry,
        )
        self.sent = Counter(
            "grpc_server_msg_sent_total", "gRPC stream messages sent by the server", _LABELS, registry=self.registry
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Response latency (seconds) of gRPC that had been application-level handled by the server",
            _LABELS,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "aidlink_grpc_server_in_flight", "RPCs being handled now", _LABELS, registry=self.registry
        )

    def serve_http(self, port: int, addr: str = "127.0.0.1") -> int:
        """Expose /metrics over HTTP; returns the bound port (port 0 picks one)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server.server_port

    def call(self, full_method: str, kind: str) -> _CallMetrics:
        service, method = split_method(full_method)
        return _CallMetrics(self, (self.component, kind, service, method))

    def observe(self, full_method: str, code: grpc.StatusCode, seconds: float, kind: str = "unary") -> None:
        """One finished call (for callers that time calls themselves)."""
        call = self.call(full_method, kind)
        call.start()
        call.finish(code, seconds)


class _CallMetrics:
    def __init__(self, metrics: RpcMetrics, labels: tuple[str, str, str, str]) -> None:
        self.metrics, self.labels = metrics, labels

    def start(self) -> None:
        self.metrics.started.labels(*self.labels).inc()
        self.metrics.in_flight.labels(*self.labels).inc()

    def received(self) -> None:
        self.metrics.received.labels(*self.labels).inc()

    def sent(self) -> None:
        self.metrics.sent.labels(*self.labels).inc()

    def finish(self, code: grpc.StatusCode, seconds: float) -> None:
        self.metrics.in_flight.labels(*self.labels).dec()
        self.metrics.handled.labels(*self.labels, GO_CODE_NAMES.get(code.name, code.name)).inc()
        self.metrics.handling.labels(*self.labels).observe(seconds)


def _final_code(context, failed: bool, stopped: bool) -> grpc.StatusCode:
    code = context.code()
    if code is not None:
        return code
    if stopped:  # the client went away (cancel, deadline) and gRPC closed our response stream
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


class MetricsInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: RpcMetrics) -> None:
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        kind = grpc_type(handler.request_streaming, handler.response_streaming)
        metrics, method = self.metrics, handler_call_details.method

        def counted_requests(call: _CallMetrics, requests: Iterator) -> Iterator:
            for request in requests:
                call.received()
                yield request

        def begin(request):
            call = metrics.call(method, kind)
            call.start()
            if handler.request_streaming:
                request = counted_requests(call, request)
            else:
                call.received()
            return call, request, time.perf_counter()

        if handler.response_streaming:
            behavior = handler.unary_stream or handler.stream_stream

            def streaming(request, context):
                call, request, started = begin(request)
                failed, stopped = True, False
                try:
                    for response in behavior(request, context):
                        call.sent()
                        yield response
                    failed = False
                except GeneratorExit:
                    stopped = True
                    raise
                finally:
                    call.finish(_final_code(context, failed, stopped), time.perf_counter() - started)

            wrapped = streaming
            factory = (
                grpc.unary_stream_rpc_method_handler
                if not handler.request_streaming
                else grpc.stream_stream_rpc_method_handler
            )
        else:
            behavior = handler.unary_unary or handler.stream_unary

            def unary(request, context):
                call, request, started = begin(request)
                failed = True
                try:
                    response = behavior(request, context)
                    failed = False
                    call.sent()
                    return response
                finally:
                    call.finish(_final_code(context, failed, False), time.perf_counter() - started)

            wrapped = unary
            factory = (
                grpc.unary_unary_rpc_method_handler
                if not handler.request_streaming
                else grpc.stream_unary_rpc_method_handler
            )
        return factory(
            wrapped, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
