"""A whole aidlink deployment on loopback: custodian keys, a matcher over mTLS
and department gateway nodes. Used by `aidlink demo` and the end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import grpc

from aidlink.audit.open_store import open_audit_store
from aidlink.audit.store import SQLAuditStore
from aidlink.database.url import sqlite_url
from aidlink.gateway.server import GatewayConfig, GatewayServer, NodeTls
from aidlink.keys.audit_key import AuditSigningKey
from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.linkage_secret import LinkageSecret, open_sealed, seal
from aidlink.matcher.server import MatcherConfig, MatcherServer, TlsFiles
from aidlink.v1 import gateway_pb2_grpc

# Department node -> (level, division code) for the demo: Jiangsu province level.
PROVINCE = ("province", "320000")


@dataclass
class Node:
    department: str
    directory: Path
    server: GatewayServer
    channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.server.address)
        self.stub = gateway_pb2_grpc.GatewayStub(self.channel)


@dataclass
class LoopbackDeployment:
    root: Path
    departments: tuple[str, ...] = ("mca", "edu", "nhsa")
    secret_version: int = 1
    matcher_metrics: bool = False
    database_url: str | None = None  # the matcher's state (MatcherConfig.database_url); None: SQLite files
    matcher_options: dict = field(default_factory=dict)  # further MatcherConfig fields (limits, reflection…)
    matcher: MatcherServer = field(init=False)
    nodes: dict[str, Node] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.custody = self.root / "custody"
        self.ca = CertificateAuthority.create(self.custody / "ca")
        self.secret = LinkageSecret.generate(self.secret_version)
        self.audit_key_path = self.custody / "audit" / "audit-signing.key"
        self.audit_key = AuditSigningKey.create(self.audit_key_path)

    # -- keys ---------------------------------------------------------------------------------
    def matcher_tls(self) -> TlsFiles:
        tls_dir = self.root / "matcher" / "tls"
        self.ca.issue_matcher().write(tls_dir, "matcher")
        (tls_dir / "ca.crt").write_bytes(self.ca.cert_pem)
        (tls_dir / "crl.pem").write_bytes(self.ca.crl_pem())
        return TlsFiles(tls_dir / "ca.crt", tls_dir / "matcher.crt", tls_dir / "matcher.key", tls_dir / "crl.pem")

    def node_dir(self, department: str) -> Path:
        """Issue a node certificate and seal the linkage secret to it."""
        directory = self.root / "nodes" / department
        issued = self.ca.issue_node(department, level=PROVINCE[0], division_code=PROVINCE[1])
        issued.write(directory, "node", overwrite=True)
        (directory / "ca.crt").write_bytes(self.ca.cert_pem)
        (directory / "linkage-secret.sealed").write_bytes(seal(self.secret, issued.cert_pem))
        return directory

    def refresh_crl(self) -> None:
        (self.root / "matcher" / "tls" / "crl.pem").write_bytes(self.ca.crl_pem())

    # -- servers ------------------------------------------------------------------------------
    def start(self) -> LoopbackDeployment:
        self.matcher = MatcherServer(
            MatcherConfig(
                data_dir=self.root / "matcher" / "data",
                listen="127.0.0.1:0",
                tls=self.matcher_tls(),
                metrics_port=0 if self.matcher_metrics else None,
                audit_key=self.audit_key_path,
                audit_origin="aidlink.audit/loopback",
                database_url=self.database_url,
                **self.matcher_options,
            )
        ).start()
        for dept in self.departments:
            self.add_node(dept)
        return self

    def add_node(self, department: str) -> Node:
        directory = self.node_dir(department)
        # The node opens its sealed secret with its own key, as `aidlink gateway serve` does.
        secret = open_sealed(
            (directory / "linkage-secret.sealed").read_bytes(),
            (directory / "node.key").read_bytes(),
            (directory / "node.crt").read_bytes(),
        )
        server = GatewayServer(
            GatewayConfig(
                department=department,
                data_dir=directory / "state",
                matcher=self.matcher.address,
                secret_key=secret.key,
                secret_version=secret.version,
                tls=NodeTls(directory / "ca.crt", directory / "node.crt", directory / "node.key"),
                listen="127.0.0.1:0",
            )
        ).start()
        node = Node(department, directory, server)
        self.nodes[department] = node
        return node

    def open_audit_store(self, read_only: bool = True) -> SQLAuditStore:
        """The matcher's audit store, wherever its configuration keeps it (close it after use)."""
        cfg = self.matcher.config
        return open_audit_store(cfg.database_url or sqlite_url(cfg.data_dir / "audit.sqlite"), read_only=read_only)

    def audit_entries(self) -> list:
        """Every audit entry the matcher has recorded, oldest first."""
        store = self.open_audit_store()
        try:
            return [row.entry for row in store.scan()]
        finally:
            store.close()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.channel.close()
            node.server.stop(grace=1)
        self.matcher.stop(grace=2)

    def __enter__(self) -> LoopbackDeployment:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
