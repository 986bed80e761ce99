"""A department system's channel to its gateway node: the node's Unix socket, or TCP with mTLS
under a department-system certificate (``aidlink keys issue-system``); plaintext TCP only when
asked for explicitly (a development node started with ``--insecure-dev``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from aidlink.gateway.node_access import default_socket
from aidlink.keys.key_files import read_file
from aidlink.transport import client_options

OPTIONS = client_options()  # keepalive and the message size limit (aidlink.transport)


class NodeAddressError(ValueError):
    """The node cannot be reached as asked; the message says what to give instead."""


@dataclass(frozen=True)
class SystemCredentials:
    """A department system's client certificate and key, and the custodian CA the node's
    certificate chains to."""

    ca_cert: Path
    cert: Path
    key: Path
    server_name: str | None = None  # the name in the node's certificate, when it differs from the host


def node_socket_address(node_dir: Path, data_dir: Path | None = None) -> str:
    """The default socket of the node whose directory is ``node_dir`` (state in NODE_DIR/state)."""
    return f"unix:{default_socket(data_dir or Path(node_dir) / 'state')}"


def node_channel(
    address: str, credentials: SystemCredentials | None = None, *, insecure_dev: bool = False
) -> grpc.Channel:
    """A channel to the node at ``address`` (``unix:/path`` or ``host:port``)."""
    if address.startswith("unix:"):
        path = Path(address[len("unix:") :])
        if not path.exists():
            raise NodeAddressError(f"no node socket at {path} (is the node running with this state directory?)")
        return grpc.insecure_channel(address, options=OPTIONS)
    if credentials is not None:
        creds = grpc.ssl_channel_credentials(
            root_certificates=read_file(credentials.ca_cert, "CA certificate"),
            private_key=read_file(credentials.key, "system private key"),
            certificate_chain=read_file(credentials.cert, "system certificate"),
        )
        options = list(OPTIONS)
        if credentials.server_name:
            options.append(("grpc.ssl_target_name_override", credentials.server_name))
        return grpc.secure_channel(address, creds, options=options)
    if insecure_dev:
        return grpc.insecure_channel(address, options=OPTIONS)
    raise NodeAddressError(
        f"{address} is a TCP address: the node admits only department systems over mTLS there; give the "
        "system's certificate with --cert, --key and --ca (aidlink keys issue-system), or use the node's "
        "socket (--node-dir DIR or --gateway unix:PATH); plaintext only with --insecure-dev"
    )
