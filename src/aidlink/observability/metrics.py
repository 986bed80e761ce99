"""Prometheus metrics for aidlink's gRPC servers, as an interceptor.

Each server gets its own registry so that several servers (the demo runs a
matcher and three gateways in one process) do not collide.
"""

from __future__ import annotations

import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


class RpcMetrics:
    def __init__(self, component: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "aidlink_rpc_requests",
            "gRPC calls handled, by method and status code",
            ["component", "method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aidlink_rpc_duration_seconds",
            "Time to handle a gRPC call",
            ["component", "method"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.component = component

    def serve_http(self, port: int, addr: str = "127.0.0.1") -> int:
        """Expose /metrics over HTTP; returns the bound port (port 0 picks one)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server.server_port

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.requests.labels(self.component, method, code.name).inc()
        self.latency.labels(self.component, method).observe(seconds)


class MetricsInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: RpcMetrics) -> None:
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metrics = self.metrics

        def finish(context, started, failed):
            code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
            metrics.observe(method, code, time.perf_counter() - started)

        if handler.response_streaming:
            behavior = handler.unary_stream or handler.stream_stream

            def streaming(request, context):
                started, failed = time.perf_counter(), True
                try:
                    yield from behavior(request, context)
                    failed = False
                finally:
                    finish(context, started, failed)

            wrapped = streaming
            factory = (
                grpc.unary_stream_rpc_method_handler
                if not handler.request_streaming
                else grpc.stream_stream_rpc_method_handler
            )
        else:
            behavior = handler.unary_unary or handler.stream_unary

            def unary(request, context):
                started, failed = time.perf_counter(), True
                try:
                    response = behavior(request, context)
                    failed = False
                    return response
                finally:
                    finish(context, started, failed)

            wrapped = unary
            factory = (
                grpc.unary_unary_rpc_method_handler
                if not handler.request_streaming
                else grpc.stream_unary_rpc_method_handler
            )
        return factory(
            wrapped, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
