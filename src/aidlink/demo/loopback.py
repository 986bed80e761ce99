"""A whole aidlink deployment on loopback: custodian keys, a matcher over mTLS
and department gateway nodes. Used by `aidlink demo` and the end-to-end tests.

Each node serves its API as in production: on its Unix socket, and (``node_api="mtls"``, the
default) on a loopback TCP port with mTLS, which each department's "demo-app" system calls with
a system certificate from the custodian CA; ``node_api="socket"`` calls the socket instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import grpc

from aidlink.audit.note import NoteVerifier
from aidlink.audit.open_store import open_audit_store
from aidlink.audit.store import SQLAuditStore
from aidlink.database.url import sqlite_url
from aidlink.gateway.node_access import SystemTls
from aidlink.gateway.node_channel import SystemCredentials, node_channel
from aidlink.gateway.server import GatewayConfig, GatewayServer, NodeTls
from aidlink.gateway.state_files import private_directory
from aidlink.keys.audit_key import AuditSigningKey
from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.linkage_secret import LinkageSecret, open_sealed, seal
from aidlink.matcher.server import MatcherConfig, MatcherServer, TlsFiles
from aidlink.v1 import gateway_pb2_grpc
from aidlink.witness.client import WitnessEndpoint
from aidlink.witness.key import WitnessKey
from aidlink.witness.server import WitnessServer
from aidlink.witness.service import Witness
from aidlink.witness.state import WitnessState

AUDIT_ORIGIN = "aidlink.audit/loopback"

# Department node -> (level, division code) for the demo: Jiangsu province level.
PROVINCE = ("province", "320000")
DEMO_SYSTEM = "demo-app"


@dataclass
class Node:
    department: str
    directory: Path
    server: GatewayServer
    system: SystemCredentials | None = None  # None: the department's system calls the node's socket
    channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        if self.system is not None and self.server.tcp_address is not None:
            self.channel = node_channel(self.server.tcp_address, self.system)
        else:
            self.channel = node_channel(self.server.address)
        self.stub = gateway_pb2_grpc.GatewayStub(self.channel)


@dataclass
class LoopbackDeployment:
    root: Path
    departments: tuple[str, ...] = ("mca", "edu", "nhsa")
    secret_version: int = 1
    matcher_metrics: bool = False
    database_url: str | None = None  # the matcher's state (MatcherConfig.database_url); None: SQLite files
    node_api: str = "mtls"  # how the departments' systems call their nodes: "mtls" (TCP) or "socket"
    matcher_options: dict = field(default_factory=dict)  # further MatcherConfig fields (limits, reflection…)
    witness: bool = False  # an in-process C2SP witness cosigns the audit checkpoints (docs/witness.md)
    matcher: MatcherServer = field(init=False)
    witness_server: WitnessServer | None = field(init=False, default=None)
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
        directory = private_directory(self.root / "nodes" / department)
        issued = self.ca.issue_node(department, level=PROVINCE[0], division_code=PROVINCE[1])
        issued.write(directory, "node", overwrite=True)
        (directory / "ca.crt").write_bytes(self.ca.cert_pem)
        (directory / "crl.pem").write_bytes(self.ca.crl_pem())
        (directory / "linkage-secret.sealed").write_bytes(seal(self.secret, issued.cert_pem))
        return directory

    def system_credentials(self, department: str, name: str = DEMO_SYSTEM) -> SystemCredentials:
        """A client certificate for one of ``department``'s systems (aidlink keys issue-system)."""
        directory = private_directory(self.root / "systems" / f"{department}-{name}")
        self.ca.issue_system(department, name).write(directory, "system", overwrite=True)
        (directory / "ca.crt").write_bytes(self.ca.cert_pem)
        return SystemCredentials(directory / "ca.crt", directory / "system.crt", directory / "system.key")

    def refresh_crl(self) -> None:
        crl = self.ca.crl_pem()
        (self.root / "matcher" / "tls" / "crl.pem").write_bytes(crl)
        for node in self.nodes.values():
            (node.directory / "crl.pem").write_bytes(crl)

    # -- servers ------------------------------------------------------------------------------
    def start_witness(self) -> WitnessEndpoint:
        """A witness (its own key and state under custody/witness) following this deployment's audit log."""
        key = WitnessKey.create(self.custody / "witness", "witness.loopback", None)
        log_key = NoteVerifier.from_public_key(AUDIT_ORIGIN, self.audit_key.public_key())
        state = WitnessState(self.custody / "witness" / "witness.sqlite")
        self.witness_server = WitnessServer(Witness(key, [log_key], state)).start()
        return WitnessEndpoint(self.witness_server.url, key.verifier())

    def start(self) -> LoopbackDeployment:
        options = dict(self.matcher_options)
        if self.witness:
            options.setdefault("witnesses", (self.start_witness(),))
        self.matcher = MatcherServer(
            MatcherConfig(
                data_dir=self.root / "matcher" / "data",
                listen="127.0.0.1:0",
                tls=self.matcher_tls(),
                metrics_port=0 if self.matcher_metrics else None,
                audit_key=self.audit_key_path,
                audit_origin=AUDIT_ORIGIN,
                database_url=self.database_url,
                **options,
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
                listen="127.0.0.1:0" if self.node_api == "mtls" else None,
                system_tls=SystemTls(
                    directory / "ca.crt", directory / "node.crt", directory / "node.key", directory / "crl.pem"
                ),
            )
        ).start()
        system = self.system_credentials(department) if self.node_api == "mtls" else None
        node = Node(department, directory, server, system)
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
        if self.witness_server is not None:
            self.witness_server.stop()

    def __enter__(self) -> LoopbackDeployment:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
