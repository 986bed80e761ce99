"""The matcher's gRPC server: a thin adapter over `MatcherCore` that adds TLS, interceptors, health, metrics."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field, fields
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from aidlink.audit.reader import AuditReader
from aidlink.audit.service import add_to_server as add_audit_service
from aidlink.keys.identity import CertificatePolicy
from aidlink.matcher.admission import Admission, ServiceLimits
from aidlink.matcher.authentication import CertificateAuthenticator, DevelopmentAuthenticator
from aidlink.matcher.calls import Caller, current_call
from aidlink.matcher.catalog_service import CatalogPublisher, CatalogServicer
from aidlink.matcher.catalog_signing import CatalogSignature
from aidlink.matcher.catalog_store import PublishedVersion
from aidlink.matcher.core import MatcherCore, MatcherSettings, check_audit_signing
from aidlink.matcher.dispute_service import DisputesServicer
from aidlink.matcher.interceptors import call_interceptors
from aidlink.matcher.monitoring.service import add_to_server as add_monitoring_service
from aidlink.matcher.revocation import RevocationListFile, RevocationUnavailable
from aidlink.matcher.service import MatcherServicer
from aidlink.observability.metrics import MetricsInterceptor, RpcMetrics
from aidlink.observability.tracing import server_interceptor as tracing_interceptor
from aidlink.transport import DEFAULT_MAX_MESSAGE_BYTES, check_max_message_bytes, server_options
from aidlink.v1 import catalog_pb2_grpc, disputes_pb2_grpc, matcher_pb2_grpc
from aidlink.witness.client import WitnessEndpoint

log = logging.getLogger("aidlink.matcher")
SERVICE_NAME = "aidlink.v1.Matcher"
# The services server reflection lists (with reflection itself), when it is on.
REFLECTED_SERVICES = (
    "aidlink.v1.Matcher",
    "aidlink.v1.Catalog",
    "aidlink.v1.Disputes",
    "aidlink.v1.Monitoring",
    "aidlink.v1.AuditTrail",
    "grpc.health.v1.Health",
)


def _officers_only(context: grpc.ServicerContext) -> None:
    """Defence in depth for the AuditTrail service (the interceptor already checked)."""
    caller = current_call().caller
    if caller is None or caller.kind != "officer":
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "the audit trail is for security officers")


@dataclass
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path
    crl: Path | None = None  # required: the matcher refuses to start without one (revocation fails closed)


@dataclass
class MatcherConfig:
    """The gRPC server's settings: the network part here, the core's part (`settings()`) as fields too."""

    data_dir: Path
    listen: str = "127.0.0.1:50051"
    tls: TlsFiles | None = None
    insecure_dev: bool = False  # plaintext, loopback only, department from a header
    metrics_port: int | None = None  # None: no /metrics endpoint; 0: pick a free port
    metrics_address: str = "127.0.0.1"
    catalog: Path | None = None
    agreements: Path | None = None
    threshold: float | None = None  # default threshold; None: each schema's calibrated one
    audit: bool = True  # False only for side-by-side benchmarks
    audit_key: Path | None = None  # Ed25519 audit signing key (aidlink keys init makes one)
    audit_key_passphrase: bytes | None = None
    audit_origin: str | None = None
    checkpoint_interval: float = 10.0
    witnesses: tuple[WitnessEndpoint, ...] = ()  # witnesses that cosign each checkpoint (docs/witness.md)
    health_listen: str | None = None  # plaintext grpc.health.v1 only, for Kubernetes probes
    # Fair service (matcher.admission): the worker pool, and the calls in progress it admits.
    max_workers: int = ServiceLimits.workers
    max_streams: int = ServiceLimits.streams  # streaming calls of all departments (< max_workers)
    department_calls: int = ServiceLimits.department_calls
    department_streams: int = ServiceLimits.department_streams
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # largest request or answer message
    reflection: bool = False  # gRPC server reflection (lists the services; off in production)
    database_url: str | None = None  # sqlite:///… or postgresql://…; None: SQLite files in data_dir
    risk_rules: Path | None = None  # risk-warning rules (TOML); None: the embedded default
    screen_on_upload: bool = True  # screen (graph + risk rules) in the background after each upload
    join_backend: str = "local"  # the exhaustive similarity join: "local" (in process) or "dask"
    dask_scheduler: str | None = None  # tcp://host:8786 or tls://host:8786 (join_backend = "dask")
    dask_tls_ca: Path | None = None  # TLS to the Dask cluster: its own CA, and the matcher's
    dask_tls_cert: Path | None = None  # client certificate and key from that CA (all three or none)
    dask_tls_key: Path | None = None
    dask_connect_timeout: float = 30.0  # seconds to reach the scheduler at start-up
    dask_insecure_dev: bool = False  # DEVELOPMENT ONLY: allow a plaintext tcp:// scheduler

    def service_limits(self) -> ServiceLimits:
        return ServiceLimits(self.max_workers, self.max_streams, self.department_calls, self.department_streams)

    def settings(self) -> MatcherSettings:
        """The matcher core's settings (everything but the network)."""
        return MatcherSettings(**{f.name: getattr(self, f.name) for f in fields(MatcherSettings)})


def _is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class MatcherServer:
    config: MatcherConfig
    server: grpc.Server = field(init=False)
    port: int = field(init=False)
    metrics_port: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        cfg = self.config
        cfg.data_dir = Path(cfg.data_dir)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.admission = Admission(cfg.service_limits())  # ValueError on limits that do not fit together
        check_max_message_bytes(cfg.max_message_bytes)
        if cfg.tls is None:
            if not cfg.insecure_dev:
                raise ValueError(
                    "the matcher needs TLS files (CA, certificate, key); plaintext is only "
                    "allowed with the explicit development flag on a loopback address"
                )
            if not _is_loopback(cfg.listen):
                raise ValueError(f"plaintext development mode may only listen on loopback, not {cfg.listen}")
            authenticate: Callable[[grpc.ServicerContext], Caller] = DevelopmentAuthenticator()
        else:
            if cfg.tls.crl is None:
                raise ValueError(
                    "the matcher needs the custodian's certificate revocation list (crl.pem in --tls-dir, "
                    "written by aidlink keys crl): without one a revoked certificate could not be refused"
                )
            crl = RevocationListFile(cfg.tls.crl)
            try:
                crl()
            except RevocationUnavailable as exc:  # it may be put in place later: calls are refused until then
                log.error("%s (%s)", exc, cfg.tls.crl)
            authenticate = CertificateAuthenticator(cfg.tls.ca_cert.read_bytes(), crl)
        check_audit_signing(cfg.settings(), development=cfg.insecure_dev)  # the witness work (docs/witness.md)
        self.metrics = RpcMetrics("matcher")
        # The matcher's state and use cases, assembled where every adapter assembles them.
        self.core = MatcherCore(cfg.settings(), registry=self.metrics.registry)
        try:
            self._serve(cfg, authenticate)
        except BaseException:
            self.core.close()
            raise

    def _catalog_publisher(self, cfg: MatcherConfig) -> CatalogPublisher | None:
        """Catalog publication over gRPC: signatures checked against this matcher's CA and current CRL
        (None without TLS: a development matcher has no CA to check them against)."""
        if cfg.tls is None or cfg.tls.crl is None:
            return None
        ca_pem, crl = cfg.tls.ca_cert.read_bytes(), RevocationListFile(cfg.tls.crl)
        core = self.core

        def publish(document: bytes, signatures: Sequence[CatalogSignature], note: str) -> PublishedVersion:
            try:
                policy = CertificatePolicy(ca_pem, crl(), kinds={"node"})
            except ValueError as exc:
                raise RevocationUnavailable(f"the certificate revocation list (crl.pem) is not usable: {exc}") from None
            return core.publish_catalog(document, signatures, policy, note)

        return publish

    def _serve(self, cfg: MatcherConfig, authenticate) -> None:
        core = self.core
        interceptors = [
            tracing_interceptor("matcher"),
            MetricsInterceptor(self.metrics),
            *call_interceptors(core.audit_log, authenticate, self.admission),
        ]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=cfg.max_workers, thread_name_prefix="matcher"),
            interceptors=interceptors,
            options=server_options(cfg.max_message_bytes),
        )
        matcher_pb2_grpc.add_MatcherServicer_to_server(
            MatcherServicer(core.exchange, registry=self.metrics.registry), self.server
        )
        catalog_pb2_grpc.add_CatalogServicer_to_server(
            CatalogServicer(core.catalog, publish=self._catalog_publisher(cfg)), self.server
        )
        disputes_pb2_grpc.add_DisputesServicer_to_server(DisputesServicer(core.disputes), self.server)
        add_monitoring_service(self.server, core.monitor)
        if core.audit_log is not None:
            add_audit_service(self.server, AuditReader(core.audit_log.store), _officers_only)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if cfg.reflection:
            from grpc_reflection.v1alpha import reflection

            services = [s for s in REFLECTED_SERVICES if s != "aidlink.v1.AuditTrail" or core.audit_log is not None]
            reflection.enable_server_reflection((*services, reflection.SERVICE_NAME), self.server)
        self.health_server = None
        if cfg.health_listen:
            self.health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_port = self.health_server.add_insecure_port(cfg.health_listen)
        if cfg.tls is None:
            self.port = self.server.add_insecure_port(cfg.listen)
        else:
            creds = grpc.ssl_server_credentials(
                [(cfg.tls.key.read_bytes(), cfg.tls.cert.read_bytes())],
                root_certificates=cfg.tls.ca_cert.read_bytes(),
                require_client_auth=True,
            )
            self.port = self.server.add_secure_port(cfg.listen, creds)
        if self.port == 0:
            raise RuntimeError(f"could not listen on {cfg.listen}")

    # The core's parts, by the names callers and tests have always used.
    @property
    def database(self):
        return self.core.database

    @property
    def store(self):
        return self.core.store

    @property
    def join(self):
        return self.core.join

    @property
    def audit_log(self):
        return self.core.audit_log

    @property
    def catalog(self):
        return self.core.catalog

    @property
    def exchange(self):
        return self.core.exchange

    @property
    def disputes(self):
        return self.core.disputes

    @property
    def monitor(self):
        return self.core.monitor

    @property
    def address(self) -> str:
        host = self.config.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> MatcherServer:
        self.server.start()
        if self.health_server is not None:
            self.health_server.start()
        if self.config.metrics_port is not None:
            self.metrics_port = self.metrics.serve_http(self.config.metrics_port, self.config.metrics_address)
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("matcher listening on %s (%s)", self.address, "mTLS" if self.config.tls else "PLAINTEXT dev")
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Graceful: health flips to NOT_SERVING, in-flight calls finish, audit is flushed."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0)
        self.core.close()  # flushes the audit log, then closes every store

    def wait(self) -> None:
        self.server.wait_for_termination()
