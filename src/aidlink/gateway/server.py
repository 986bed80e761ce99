"""Assembles a gateway node: its linkage secret, its mTLS channel to the
matcher, and its own gRPC API for the department's systems.

The API is served on a Unix socket in the node's private state directory (always), and on TCP
only with mTLS for the department's own systems, or plaintext with ``insecure_dev``
(:mod:`aidlink.gateway.node_access`). Every call is logged in the node's call log
(:mod:`aidlink.gateway.call_log`). All state is private (:mod:`aidlink.gateway.state_files`)."""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from aidlink.deadlines import DEFAULT_STREAM_DEADLINE_S, DEFAULT_UNARY_DEADLINE_S, IncomingDeadline, with_deadlines
from aidlink.gateway.call_interceptor import Callers, NodeCallInterceptor
from aidlink.gateway.call_log import CALL_LOG_FILE, CallLog
from aidlink.gateway.catalog_lookup import NodeCatalog
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.inbox import NodeKeys, ReferralInbox
from aidlink.gateway.key_scope import expand_scope
from aidlink.gateway.matcher_client import MatcherClient
from aidlink.gateway.monitoring_relay import FolderRelay, MonitoringSubscriber
from aidlink.gateway.monitoring_service import MonitoringGatewayServicer
from aidlink.gateway.node import GatewayNode
from aidlink.gateway.node_access import (
    SystemAuthenticator,
    SystemTls,
    check_socket_path,
    default_socket,
    is_loopback,
    narrow_socket,
)
from aidlink.gateway.pipeline import RecordPipeline
from aidlink.gateway.refs import ReferenceMap
from aidlink.gateway.service import GatewayServicer
from aidlink.gateway.state_files import private_directory
from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER
from aidlink.matcher.revocation import RevocationListFile
from aidlink.observability.metrics import MetricsInterceptor, RpcMetrics
from aidlink.observability.tracing import server_interceptor, traced_channel
from aidlink.transport import DEFAULT_MAX_MESSAGE_BYTES, client_options, server_options
from aidlink.v1 import catalog_pb2_grpc, gateway_pb2_grpc, matcher_pb2_grpc, monitoring_pb2_grpc

log = logging.getLogger("aidlink.gateway")


@dataclass
class NodeTls:
    ca_cert: Path
    cert: Path
    key: Path


@dataclass
class GatewayConfig:
    department: str
    data_dir: Path
    matcher: str  # host:port of the matcher
    secret_key: bytes  # the opened linkage secret (never leaves this node)
    secret_version: int
    tls: NodeTls | None = None  # None only against a dev-mode matcher on loopback
    # The node's own API: always on a Unix socket (default DATA_DIR/node.sock); on TCP too when
    # `listen` is set, with mTLS for the department's systems (`system_tls`), or in plaintext
    # only with `insecure_dev`.
    socket: Path | None = None
    listen: str | None = None
    system_tls: SystemTls | None = None
    insecure_dev: bool = False
    health_listen: str | None = None  # plaintext grpc.health.v1 only, for Kubernetes probes
    schema: Path | None = None
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    matcher_server_name: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # largest message, to the matcher and on the node's API
    # Deadlines of calls to the matcher: these by default, never more than the node's own caller has left.
    matcher_deadline_s: float = DEFAULT_UNARY_DEADLINE_S
    matcher_stream_deadline_s: float = DEFAULT_STREAM_DEADLINE_S
    # Keep a Monitoring.Subscribe stream open: pushed referrals (and, for civil affairs, new
    # warnings) reach the inbox at once; with `relay_folder`, each is also written there as JSON.
    subscribe: bool = False
    relay_folder: Path | None = None
    # Keys scoped to an agreement and period (gateway.key_scope), e.g. "agreement A-17|{quarter}":
    # expanded when the node starts; "" encodes unscoped. Both sides of an agreement set the same.
    key_scope: str = ""


class _DevDepartment(
    grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor, grpc.StreamUnaryClientInterceptor
):
    """Development mode only: names the department in a header (a dev-mode
    matcher on loopback trusts it; a real matcher ignores it)."""

    def __init__(self, department: str) -> None:
        self.department = department

    def _with_header(self, details):
        md = list(details.metadata or []) + [(DEV_DEPARTMENT_HEADER, self.department)]
        return details._replace(metadata=md) if hasattr(details, "_replace") else _Details(details, md)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_header(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_header(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._with_header(details), request_iterator)


class _Details(grpc.ClientCallDetails):
    def __init__(self, base, metadata):
        self.method, self.timeout, self.credentials = base.method, base.timeout, base.credentials
        self.wait_for_ready, self.compression = base.wait_for_ready, base.compression
        self.metadata = metadata


def matcher_channel(cfg: GatewayConfig) -> grpc.Channel:
    """The node's channel to the matcher: mTLS, keepalive, the message size limit, and a deadline on
    every call (at most what the node's own caller has left: aidlink.deadlines)."""
    options = client_options(cfg.max_message_bytes)
    if cfg.tls is None:
        channel = grpc.insecure_channel(cfg.matcher, options=options)
        channel = grpc.intercept_channel(channel, _DevDepartment(cfg.department))
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=cfg.tls.ca_cert.read_bytes(),
            private_key=cfg.tls.key.read_bytes(),
            certificate_chain=cfg.tls.cert.read_bytes(),
        )
        if cfg.matcher_server_name:
            options.append(("grpc.ssl_target_name_override", cfg.matcher_server_name))
        channel = grpc.secure_channel(cfg.matcher, creds, options=options)
    return with_deadlines(
        traced_channel(channel, "gateway", cfg.department), cfg.matcher_deadline_s, cfg.matcher_stream_deadline_s
    )


@dataclass
class GatewayServer:
    config: GatewayConfig
    port: int | None = field(init=False, default=None)  # the TCP port, when the node listens on one
    metrics_port: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        cfg = self.config
        cfg.data_dir = private_directory(cfg.data_dir)
        if cfg.listen is not None and cfg.system_tls is None and not cfg.insecure_dev:
            raise ValueError(
                f"the node's API on TCP ({cfg.listen}) needs mTLS for the department's systems "
                "(system_tls), or insecure_dev for plaintext development on loopback"
            )
        if cfg.listen is not None and cfg.system_tls is None and not is_loopback(cfg.listen):
            raise ValueError(f"the node's plaintext development API may only listen on loopback, not {cfg.listen}")
        cfg.socket = check_socket_path(cfg.socket or default_socket(cfg.data_dir))
        private_directory(cfg.socket.parent)
        self.call_log = CallLog(cfg.data_dir / CALL_LOG_FILE)
        schema = LinkageSchema.load(cfg.schema) if cfg.schema else LinkageSchema.default_chinese()
        self.channel = matcher_channel(cfg)
        self.refs = ReferenceMap(cfg.data_dir / "references.sqlite")
        pipeline = RecordPipeline(
            schema, cfg.secret_key, cfg.secret_version, scope=expand_scope(cfg.key_scope, date.today())
        )
        self.node = GatewayNode(
            cfg.department,
            pipeline,
            MatcherClient(matcher_pb2_grpc.MatcherStub(self.channel), pipeline.parameters),
            self.refs,
            catalog=NodeCatalog(catalog_pb2_grpc.CatalogStub(self.channel)),
        )
        self.metrics = RpcMetrics(f"gateway-{cfg.department}")
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"gw-{cfg.department}"),
            interceptors=[
                server_interceptor("gateway", cfg.department),
                MetricsInterceptor(self.metrics),  # outside the caller check, so refusals are counted
                NodeCallInterceptor(self._callers(cfg), self.call_log),
                IncomingDeadline(),  # the node's calls to the matcher get at most what its caller has left
            ],
            options=server_options(cfg.max_message_bytes),
        )
        gateway_pb2_grpc.add_GatewayServicer_to_server(GatewayServicer(self.node), self.server)
        keys = (
            NodeKeys(cfg.tls.ca_cert.read_bytes(), cfg.tls.cert.read_bytes(), cfg.tls.key.read_bytes())
            if cfg.tls
            else None
        )
        monitoring = monitoring_pb2_grpc.MonitoringStub(self.channel)
        self.inbox = ReferralInbox(cfg.data_dir / "inbox.sqlite", monitoring, self.refs, cfg.department, keys)
        monitoring_pb2_grpc.add_MonitoringGatewayServicer_to_server(
            MonitoringGatewayServicer(monitoring, self.inbox, self.refs), self.server
        )
        self.subscriber: MonitoringSubscriber | None = None
        if cfg.subscribe or cfg.relay_folder is not None:
            self.subscriber = MonitoringSubscriber(
                matcher_channel(cfg),
                self.inbox,
                self.refs,
                cfg.data_dir,
                FolderRelay(cfg.relay_folder) if cfg.relay_folder is not None else None,
            )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = None
        self.health_server: grpc.Server | None = None
        self.health_port: int | None = None

    def _bind(self) -> None:
        """The API's addresses (bound on start: a node assembled only for its desk, as the
        dispute commands do, must not take the running node's socket)."""
        cfg = self.config
        assert cfg.socket is not None  # set in __post_init__
        self.server.add_insecure_port(f"unix:{cfg.socket}")
        narrow_socket(cfg.socket)
        if cfg.listen is not None:
            if cfg.system_tls is not None:
                self.port = self.server.add_secure_port(cfg.listen, cfg.system_tls.server_credentials())
            else:
                log.warning(
                    "gateway %s: --insecure-dev: the node API on %s is PLAINTEXT and UNAUTHENTICATED; "
                    "anyone who can reach it can read and submit the department's records",
                    cfg.department,
                    cfg.listen,
                )
                self.port = self.server.add_insecure_port(cfg.listen)
        if cfg.health_listen:
            self.health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_port = self.health_server.add_insecure_port(cfg.health_listen)

    @staticmethod
    def _callers(cfg: GatewayConfig) -> Callers:
        systems = None
        if cfg.listen is not None and cfg.system_tls is not None:
            systems = SystemAuthenticator(
                cfg.department, cfg.system_tls.ca_cert.read_bytes(), RevocationListFile(cfg.system_tls.crl)
            )
        return Callers(systems, insecure_tcp=cfg.listen is not None and cfg.system_tls is None)

    @property
    def address(self) -> str:
        """The Unix socket address local clients use (``unix:/…``)."""
        return f"unix:{self.config.socket}"

    @property
    def tcp_address(self) -> str | None:
        """Where department systems reach the node over TCP (mTLS, or plaintext in development)."""
        if self.config.listen is None or self.port is None:
            return None
        return f"{self.config.listen.rsplit(':', 1)[0]}:{self.port}"

    def start(self) -> GatewayServer:
        self._bind()
        self.server.start()
        if self.health_server is not None:
            self.health_server.start()
        if self.config.metrics_port is not None:
            self.metrics_port = self.metrics.serve_http(self.config.metrics_port, self.config.metrics_address)
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        if self.subscriber is not None:
            self.subscriber.start()
        log.info(
            "gateway %s listening on %s%s, matcher %s",
            self.config.department,
            self.address,
            f" and {self.tcp_address}" if self.tcp_address else "",
            self.config.matcher,
        )
        return self

    def stop(self, grace: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        if self.subscriber is not None:
            self.subscriber.stop()
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0)
        self.channel.close()
        self.inbox.close()
        self.refs.close()
        self.call_log.close()
