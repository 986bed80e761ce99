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

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry

from aidlink.audit.entry import AuditEntry, audit_outcome, utc_now
from aidlink.audit.log import AuditLog
from aidlink.audit.open_store import open_audit_store
from aidlink.database.connection import Database
from aidlink.database.url import sqlite_url
from aidlink.gateway.bundle import BundleLedger
from aidlink.keys.audit_key import AuditSigningKey
from aidlink.keys.identity import CertificatePolicy
from aidlink.matcher.agreements import AgreementSet
from aidlink.matcher.bundle_import import BundleImporter
from aidlink.matcher.catalog import Catalog, CatalogError
from aidlink.matcher.catalog_signing import CatalogSignature, CatalogSignatureError
from aidlink.matcher.catalog_store import CatalogStore, PublishedVersion
from aidlink.matcher.datasets import DatasetStore, DatasetWriter, EncodingSpec
from aidlink.matcher.disputes import Dispute, DisputeDesk
from aidlink.matcher.distributed import JoinBackend, open_join_backend
from aidlink.matcher.errors import InvalidInput, NotPermitted
from aidlink.matcher.exchange import Comparison, Exchange, StatusResult, UploadProblem
from aidlink.matcher.join import DatasetJoin
from aidlink.matcher.monitoring.monitor import Monitor
from aidlink.matcher.monitoring.referrals import ReferralDesk
from aidlink.matcher.monitoring.rules import RuleSet
from aidlink.witness.client import WitnessEndpoint

log = logging.getLogger("aidlink.matcher")

DEFAULT_CHECKPOINT_INTERVAL = 10.0
CATALOG_PUBLISH_METHOD = "offline/catalog-publish"  # an admin publication with the matcher stopped


@dataclass
class MatcherSettings:
    """Everything the matcher's core needs that is not about the network."""

    data_dir: Path
    database_url: str | None = None  # sqlite:///… or postgresql://…; None: SQLite files in data_dir
    catalog: Path | None = None  # the catalog to publish if new (None: the embedded one)
    agreements: Path | None = None  # sharing agreements (None: the embedded Art. 14 set)
    threshold: float | None = None  # default threshold; None: each schema's calibrated one
    audit: bool = True  # False only for side-by-side benchmarks
    audit_key: Path | None = None  # Ed25519 audit signing key (aidlink keys init makes one)
    audit_key_passphrase: bytes | None = None
    audit_origin: str | None = None
    checkpoint_interval: float | None = DEFAULT_CHECKPOINT_INTERVAL  # None: checkpoints on close only
    witnesses: tuple[WitnessEndpoint, ...] = ()  # C2SP witnesses that cosign each checkpoint (audit.witnessing)
    risk_rules: Path | None = None  # risk-warning rules (TOML); None: the embedded default
    screen_on_upload: bool = True  # screen (graph + risk rules) in the background after each upload
    join_backend: str = "local"  # the exhaustive similarity join: "local" (in process) or "dask"
    dask_scheduler: str | None = None  # tcp://host:8786 or tls://host:8786 (join_backend = "dask")
    dask_tls_ca: Path | None = None  # TLS to the Dask cluster: its own CA, and the matcher's
    dask_tls_cert: Path | None = None  # client certificate and key from that CA (all three or none)
    dask_tls_key: Path | None = None
    dask_connect_timeout: float = 30.0  # seconds to reach the scheduler at start-up
    dask_insecure_dev: bool = False  # DEVELOPMENT ONLY: allow a plaintext tcp:// scheduler (Dask unpickles)
    max_workers: int = 16  # concurrent callers at most: the database pool's size


def check_audit_signing(settings: MatcherSettings, *, development: bool) -> None:
    """A serving matcher signs its audit checkpoints: without a key nothing commits to the log, and
    no witness can cosign it. Only a development matcher (--insecure-dev) may run without, warned."""
    if not settings.audit or settings.audit_key is not None:
        return
    if development:
        log.warning(
            "DEVELOPMENT ONLY: no audit signing key (--audit-key): the audit log issues no signed checkpoints, "
            "so nothing commits to it and `aidlink audit verify` fails on it"
        )
        return
    raise ValueError(
        "the matcher needs an audit signing key to sign its audit log's checkpoints: pass --audit-key "
        "(aidlink keys init creates custody/audit/audit-signing.key), or --insecure-dev for development only"
    )


def check_dask_transport(settings: MatcherSettings) -> None:
    """Dask's protocol unpickles what it receives: a scheduler is reached over TLS with the cluster's
    own CA and a client certificate, unless plaintext is asked for explicitly, for development."""
    address = settings.dask_scheduler or ""
    scheme = address.split("://", 1)[0].lower() if "://" in address else "tcp"
    if scheme == "tls":
        if not settings.dask_tls_ca:
            raise ValueError(
                f"the Dask scheduler {address} is tls:// but no Dask TLS files are given; "
                "set --dask-tls-ca, --dask-tls-cert and --dask-tls-key"
            )
        return
    if settings.dask_insecure_dev:
        log.warning("DEVELOPMENT ONLY: the Dask scheduler %s is reached without TLS", address)
        return
    raise ValueError(
        f"the Dask scheduler address {address} is plaintext ({scheme}://); Dask's protocol unpickles what it "
        "receives, so the matcher reaches its cluster over TLS only: use tls://host:port with --dask-tls-ca "
        "(the cluster's CA), --dask-tls-cert and --dask-tls-key (the matcher's client certificate and key), "
        "or, for development on a trusted machine, --dask-insecure-dev"
    )


def open_configured_join_backend(settings: MatcherSettings, registry: CollectorRegistry | None) -> JoinBackend:
    """The join backend the settings name; a Dask scheduler must answer now, or start-up fails."""
    tls = {
        "dask_tls_ca": settings.dask_tls_ca,
        "dask_tls_cert": settings.dask_tls_cert,
        "dask_tls_key": settings.dask_tls_key,
    }
    given = [name for name, path in tls.items() if path]
    if given and settings.join_backend != "dask":
        raise ValueError(
            f"{', '.join(given)} set but join_backend is {settings.join_backend!r}; "
            f'the Dask TLS settings apply to join_backend = "dask" only'
        )
    if given and len(given) < len(tls):
        raise ValueError(
            f"Dask TLS needs dask_tls_ca, dask_tls_cert and dask_tls_key together; "
            f"missing {', '.join(sorted(set(tls) - set(given)))}"
        )
    if settings.join_backend != "dask" or not settings.dask_scheduler:
        return open_join_backend(settings.join_backend, settings.dask_scheduler, registry=registry)
    check_dask_transport(settings)
    from aidlink.matcher.distributed import DaskJoinBackend, dask_security  # Dask only when configured

    security = None
    if settings.dask_tls_ca and settings.dask_tls_cert and settings.dask_tls_key:
        security = dask_security(
            Path(settings.dask_tls_ca), Path(settings.dask_tls_cert), Path(settings.dask_tls_key), roles=("client",)
        )
    backend: JoinBackend = DaskJoinBackend(
        settings.dask_scheduler, security=security, registry=registry, connect_timeout=settings.dask_connect_timeout
    )
    return backend


class _Closeable(Protocol):
    def close(self) -> None: ...


_Part = TypeVar("_Part", bound=_Closeable)


class MatcherCore:
    """The matcher's state and use cases; `close()` releases all of it (also after a failed start)."""

    def __init__(
        self,
        settings: MatcherSettings,
        *,
        registry: CollectorRegistry | None = None,
        application_name: str = "aidlink-matcher",
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._opened: list[_Closeable] = []
        try:
            self._assemble(application_name)
        except BaseException:
            self.close()
            raise

    def _open(self, part: _Part) -> _Part:
        """Remember a part to close (newest first) when the core closes."""
        self._opened.append(part)
        return part

    def _assemble(self, application_name: str) -> None:
        s = self.settings
        # Matcher state: with a database URL, every store shares one Database (the audit store opens
        # its own); without one, each store keeps its SQLite file in data_dir.
        self.database: Database | None = None
        if s.database_url:  # pool: a connection per concurrent caller at most
            self.database = self._open(
                Database(s.database_url, pool_size=s.max_workers, application_name=application_name)
            )
        self.store = self._open(DatasetStore(self.data_dir, self.database))
        self.join: JoinBackend = self._open(open_configured_join_backend(s, self.registry))
        self.audit_log: AuditLog | None = None
        if s.audit:
            key = AuditSigningKey.load(s.audit_key, s.audit_key_passphrase) if s.audit_key else None
            self.audit_log = self._open(
                AuditLog(
                    open_audit_store(s.database_url or sqlite_url(self.data_dir / "audit.sqlite")),
                    signing_key=key,
                    origin=s.audit_origin,
                    checkpoint_interval=s.checkpoint_interval,
                    registry=self.registry,
                    witnesses=s.witnesses,
                )
            )
        # Published catalog versions are immutable (Art. 7); the configured catalog is published if new.
        self.catalog = self._open(CatalogStore.open(self._state("catalog.sqlite"), seed=Catalog.load(s.catalog)))
        self.agreements = AgreementSet.load(s.agreements)
        self.joiner = DatasetJoin(self.join)  # the one join path: compare, status, flag, monitoring
        self.exchange = Exchange(
            self.store, self.catalog, self.agreements, default_threshold=s.threshold, join=self.join, joiner=self.joiner
        )
        self.disputes = self._open(DisputeDesk(self._state("disputes.sqlite"), self.exchange))
        self.exchange.disputed_refs = self.disputes.disputed_refs  # results mark disputed records
        published = self.catalog.get()  # the newest published catalog version
        self.monitor = self._open(
            Monitor(
                self.data_dir,
                self.store,
                published,
                self.agreements,
                rules=RuleSet.load(s.risk_rules, published),
                threshold=s.threshold,
                database=self.database,
                joiner=self.joiner,
                screen_on_upload=s.screen_on_upload,
            )
        )

    def _state(self, sqlite_file: str) -> Database | Path:
        """Where a store keeps its state: the shared database, else its own SQLite file in data_dir."""
        return self.database if self.database is not None else self.data_dir / sqlite_file

    # -- the use cases, whatever the adapter -----------------------------------------------------
    # Upload (begin_upload, add_record), compare and status query are the Exchange's; monitoring
    # (warnings, graph, feedback) is `monitor`'s.
    def begin_upload(
        self,
        department: str,
        name: str,
        catalog_entry: str,
        catalog_version: str,
        encoding: EncodingSpec,
        attributes: Iterable[str],
    ) -> DatasetWriter:
        return self.exchange.begin_upload(department, name, catalog_entry, catalog_version, encoding, attributes)

    def add_record(
        self,
        writer: DatasetWriter,
        index: int,
        ref: str,
        encoding: bytes,
        attributes: Mapping[str, str],
        blocking_keys: Sequence[bytes] = (),
    ) -> UploadProblem | None:
        return self.exchange.add_record(writer, index, ref, encoding, attributes, blocking_keys)

    def compare(
        self,
        department: str,
        my_name: str,
        other_name: str,
        purpose: str,
        threshold: float,
        all_pairs: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> Comparison:
        return self.exchange.compare(department, my_name, other_name, purpose, threshold, all_pairs, progress)

    def status(
        self, department: str, dataset_name: str, encoding: bytes, spec: EncodingSpec, purpose: str, threshold: float
    ) -> StatusResult:
        return self.exchange.status(department, dataset_name, encoding, spec, purpose, threshold)

    def flag(
        self,
        user: str,
        my_dataset: str,
        my_ref: str,
        other_dataset: str,
        purpose: str,
        reason: str,
        threshold: float = 0.0,
    ) -> Dispute:
        """A dispute's flag: a status query of the flagged record through the Exchange, then the desk."""
        return self.disputes.flag(user, my_dataset, my_ref, other_dataset, purpose, reason, threshold)

    @property
    def referrals(self) -> ReferralDesk:
        return self.monitor.referrals

    def bundle_importer(
        self,
        ledger: BundleLedger,
        *,
        key_pem: bytes,
        cert_pem: bytes,
        ca_cert_pem: bytes,
        crl_pem: Callable[[], bytes | None] = lambda: None,
    ) -> BundleImporter:
        """Offline bundle import (Art. 10) over this core's Exchange and audit log."""
        return BundleImporter(
            self.exchange,
            self.audit_log,
            ledger,
            key_pem=key_pem,
            cert_pem=cert_pem,
            ca_cert_pem=ca_cert_pem,
            crl_pem=crl_pem,
        )

    def publish_catalog(
        self, document: bytes, signatures: Sequence[CatalogSignature], policy: CertificatePolicy, note: str = ""
    ) -> PublishedVersion:
        """Publish a catalog version (Art. 5-7) if its signatures verify: mca and every changed
        provider, against the CA and CRL in ``policy``. Refusals are domain refusals naming what
        is missing (audited by the gRPC interceptor online, by :meth:`audit_offline` offline)."""
        try:
            return self.catalog.publish(document, signatures, policy, note=note)
        except CatalogSignatureError as exc:
            raise NotPermitted(f"unsigned catalog: {exc}") from None
        except (CatalogError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"catalog: {exc}") from None

    def audit_offline(
        self, method: str, status: str, *, identity: str, datasets: Sequence[str] = (), detail: str = ""
    ) -> None:
        """Record a call that reached the core without gRPC (an admin command run with the matcher
        stopped), classified as the interceptor classifies calls."""
        if self.audit_log is None:
            return
        self.audit_log.append(
            AuditEntry(
                time=utc_now(),
                method=method,
                outcome=audit_outcome(status),
                status=status,
                identity=identity,
                datasets=tuple(datasets),
                detail=detail,
                peer="local:admin-cli",
            )
        )

    # -- shutting down ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close every part, newest first (the audit log flushes and signs a last checkpoint if it
        grew). Idempotent; a part that fails to close does not keep the others open."""
        failure: BaseException | None = None
        while self._opened:
            part = self._opened.pop()
            try:
                part.close()
            except BaseException as exc:  # close the rest, then report the first failure
                failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self) -> MatcherCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
