"""The matcher's application core, assembled in one place from one typed configuration.

`MatcherCore` holds the matcher's state and its use cases: upload, compare, status
query, flag (disputes), monitoring and referrals, and offline bundle import. Every
adapter builds the same core from the same `MatcherSettings`: the gRPC server
(`matcher.server`, which adds TLS, interceptors and health), `aidlink matcher
import-bundle` (offline, with the matcher stopped) and the loopback test deployment.
So an offline import gets the same catalog, agreements, threshold, join path
(blocking keys, join backend) and dispute desk as an online call.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from prometheus_client import CollectorRegistry

from aidlink.audit.log import AuditLog
from aidlink.audit.open_store import open_audit_store
from aidlink.database.connection import Database
from aidlink.database.url import sqlite_url
from aidlink.keys.audit_key import AuditSigningKey
from aidlink.matcher.agreements import AgreementSet
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.catalog_store import CatalogStore
from aidlink.matcher.comparison import DEFAULT_THRESHOLD
from aidlink.matcher.datasets import DatasetStore
from aidlink.matcher.disputes import DisputeDesk
from aidlink.matcher.distributed import JoinBackend, open_join_backend
from aidlink.matcher.exchange import Exchange
from aidlink.matcher.join import DatasetJoin
from aidlink.matcher.monitoring.monitor import Monitor
from aidlink.matcher.monitoring.rules import RuleSet

DEFAULT_CHECKPOINT_INTERVAL = 10.0


@dataclass
class MatcherSettings:
    """Everything the matcher's core needs that is not about the network."""

    data_dir: Path
    database_url: str | None = None   # sqlite:///… or postgresql://…; None: SQLite files in data_dir
    catalog: Path | None = None       # the catalog to publish if new (None: the embedded one)
    agreements: Path | None = None    # sharing agreements (None: the embedded Art. 14 set)
    threshold: float = DEFAULT_THRESHOLD
    audit: bool = True                # False only for side-by-side benchmarks
    audit_key: Path | None = None     # Ed25519 audit signing key (aidlink keys init makes one)
    audit_key_passphrase: bytes | None = None
    audit_origin: str | None = None
    checkpoint_interval: float | None = DEFAULT_CHECKPOINT_INTERVAL   # None: checkpoints on close only
    risk_rules: Path | None = None    # risk-warning rules (TOML); None: the embedded default
    join_backend: str = "local"       # the exhaustive similarity join: "local" (in process) or "dask"
    dask_scheduler: str | None = None  # tcp://host:8786 or tls://host:8786 (join_backend = "dask")
    dask_tls_ca: Path | None = None   # TLS to the Dask cluster: its own CA, and the matcher's
    dask_tls_cert: Path | None = None  # client certificate and key from that CA (all three or none)
    dask_tls_key: Path | None = None
    dask_connect_timeout: float = 30.0  # seconds to reach the scheduler at start-up
    max_workers: int = 16             # concurrent callers at most: the database pool's size


def open_configured_join_backend(settings: MatcherSettings, registry: CollectorRegistry | None) -> JoinBackend:
    """The join backend the settings name; a Dask scheduler must answer now, or start-up fails."""
    tls = {"dask_tls_ca": settings.dask_tls_ca, "dask_tls_cert": settings.dask_tls_cert,
           "dask_tls_key": settings.dask_tls_key}
    given = [name for name, path in tls.items() if path]
    if given and settings.join_backend != "dask":
        raise ValueError(f"{', '.join(given)} set but join_backend is {settings.join_backend!r}; "
                         f'the Dask TLS settings apply to join_backend = "dask" only')
    if given and len(given) < len(tls):
        raise ValueError(f"Dask TLS needs dask_tls_ca, dask_tls_cert and dask_tls_key together; "
                         f"missing {', '.join(sorted(set(tls) - set(given)))}")
    if settings.join_backend != "dask" or not settings.dask_scheduler:
        return open_join_backend(settings.join_backend, settings.dask_scheduler, registry=registry)
    from aidlink.matcher.distributed import DaskJoinBackend, dask_security   # Dask only when configured
    security = (dask_security(Path(settings.dask_tls_ca), Path(settings.dask_tls_cert),   # type: ignore[arg-type]
                              Path(settings.dask_tls_key), roles=("client",)) if given else None)
    return DaskJoinBackend(settings.dask_scheduler, security=security, registry=registry,
                           connect_timeout=settings.dask_connect_timeout)


class MatcherCore:
    """The matcher's state and use cases; `close()` releases all of it (also after a failed start)."""

    def __init__(self, settings: MatcherSettings, *, registry: CollectorRegistry | None = None,
                 application_name: str = "aidlink-matcher") -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database: Database | None = None
        self.store: DatasetStore | None = None
        self.join: JoinBackend | None = None
        self.audit_log: AuditLog | None = None
        self.catalog: CatalogStore | None = None
        self.disputes: DisputeDesk | None = None
        self.monitor: Monitor | None = None
        try:
            self._assemble(application_name)
        except BaseException:
            self.close()
            raise

    def _assemble(self, application_name: str) -> None:
        s = self.settings
        # Matcher state: with a database URL, every store shares one Database (the audit store opens
        # its own); without one, each store keeps its SQLite file in data_dir.
        if s.database_url:   # pool: a connection per concurrent caller at most
            self.database = Database(s.database_url, pool_size=s.max_workers, application_name=application_name)
        self.store = DatasetStore(self.data_dir, self.database)
        self.join = open_configured_join_backend(s, self.registry)
        if s.audit:
            key = AuditSigningKey.load(s.audit_key, s.audit_key_passphrase) if s.audit_key else None
            self.audit_log = AuditLog(open_audit_store(s.database_url or sqlite_url(self.data_dir / "audit.sqlite")),
                                      signing_key=key, origin=s.audit_origin,
                                      checkpoint_interval=s.checkpoint_interval, registry=self.registry)
        # Published catalog versions are immutable (Art. 7); the configured catalog is published if new.
        self.catalog = CatalogStore.open(self._state("catalog.sqlite"), seed=Catalog.load(s.catalog))
        self.agreements = AgreementSet.load(s.agreements)
        self.joiner = DatasetJoin(self.join)    # the one join path: compare, status, flag, monitoring
        self.exchange = Exchange(self.store, self.catalog, self.agreements, default_threshold=s.threshold,
                                 join=self.join, joiner=self.joiner)
        self.disputes = DisputeDesk(self._state("disputes.sqlite"), self.exchange)
        self.exchange.disputed_refs = self.disputes.disputed_refs   # results mark disputed records
        published = self.catalog.get()   # the newest published catalog version
        self.monitor = Monitor(self.data_dir, self.store, published, self.agreements,
                               rules=RuleSet.load(s.risk_rules, published), threshold=s.threshold,
                               database=self.database, joiner=self.joiner)
        self._bind_use_cases()

    def _bind_use_cases(self) -> None:
        self.begin_upload = self.exchange.begin_upload
        self.add_record = self.exchange.add_record
        self.compare = self.exchange.compare
        self.status = self.exchange.status
        # A flag finds the matched record by a status query through the Exchange (same checks).
        self.flag = self.disputes.flag
        self.referrals = self.monitor.referrals

    def _state(self, sqlite_file: str) -> Database | Path:
        """Where a store keeps its state: the shared database, else its own SQLite file in data_dir."""
        return self.database if self.database is not None else self.data_dir / sqlite_file

    # -- the use cases, whatever the adapter -----------------------------------------------------
    # upload: begin_upload, add_record; compare; status; flag (disputes); monitor (warnings, graph,
    # feedback) and referrals; bundle_importer (offline import): bound in `_bind_use_cases`.

    def bundle_importer(self, ledger, *, key_pem: bytes, cert_pem: bytes, ca_cert_pem: bytes,
                        crl_pem: Callable[[], bytes | None] = lambda: None):
        """Offline bundle import (Art. 10) over this core's Exchange and audit log."""
        from aidlink.matcher.bundle_import import BundleImporter

        return BundleImporter(self.exchange, self.audit_log, ledger, key_pem=key_pem, cert_pem=cert_pem,
                              ca_cert_pem=ca_cert_pem, crl_pem=crl_pem)

    # -- shutting down ---------------------------------------------------------------------------
    def close(self) -> None:
        """Flush the audit log (a last checkpoint if it grew) and close every store, newest first."""
        failure: BaseException | None = None
        for name in ("audit_log", "disputes", "monitor", "catalog", "store", "join", "database"):
            part = getattr(self, name)
            setattr(self, name, None)
            if part is None:
                continue
            try:
                part.close()
            except BaseException as exc:   # close the rest, then report the first failure
                failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self) -> "MatcherCore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
