"""The options every command that calls a gateway node shares: where the node is, and how to
prove to it that the caller is one of its department's systems."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from aidlink.cli.settings import seconds
from aidlink.deadlines import DEFAULT_STREAM_DEADLINE_S, DEFAULT_UNARY_DEADLINE_S, with_deadlines
from aidlink.gateway.node_channel import NodeAddressError, SystemCredentials, node_channel, node_socket_address
from aidlink.keys.key_files import KeyFileError


def add_node_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("the department's node")
    where.add_argument(
        "--gateway",
        metavar="ADDRESS",
        help="the node: unix:PATH (its socket) or HOST:PORT (mTLS with --cert/--key/--ca)",
    )
    where.add_argument("--node-dir", type=Path, help="the node's directory: call its socket (NODE_DIR/state/node.sock)")
    where.add_argument("--cert", type=Path, help="this system's client certificate (aidlink keys issue-system)")
    where.add_argument("--key", type=Path, help="this system's private key")
    where.add_argument("--ca", type=Path, help="the custodian CA certificate (ca.crt)")
    where.add_argument("--server-name", help="TLS name in the node's certificate, if it differs from the host")
    where.add_argument(
        "--insecure-dev", action="store_true", help="plaintext TCP to a development node (never in production)"
    )
    where.add_argument(
        "--deadline",
        type=seconds,
        metavar="SECONDS",
        help=f"give up a call to the node after SECONDS, the node's calls to the matcher included "
        f"(default: {DEFAULT_UNARY_DEADLINE_S:g} for a unary call, {DEFAULT_STREAM_DEADLINE_S:g} for an "
        "upload or a comparison)",
    )


def open_node_channel(args: argparse.Namespace, command: str) -> grpc.Channel | None:
    """The channel the options name, or None after printing a one-line reason."""
    tls = [args.cert, args.key, args.ca]
    if any(tls) and not all(tls):
        print(f"aidlink {command}: --cert, --key and --ca go together", file=sys.stderr)
        return None
    address = args.gateway or (node_socket_address(args.node_dir) if args.node_dir else None)
    if address is None:
        print(
            f"aidlink {command}: say where the node is: --node-dir DIR (its socket) or --gateway unix:PATH|HOST:PORT",
            file=sys.stderr,
        )
        return None
    if args.insecure_dev and not address.startswith("unix:") and not all(tls):
        print(
            f"aidlink {command}: WARNING: --insecure-dev: plaintext, unauthenticated TCP to {address}", file=sys.stderr
        )
    deadline = getattr(args, "deadline", None)
    try:
        channel = node_channel(
            address,
            SystemCredentials(args.ca, args.cert, args.key, args.server_name) if all(tls) else None,
            insecure_dev=args.insecure_dev,
        )
    except (NodeAddressError, KeyFileError) as exc:
        print(f"aidlink {command}: {exc}", file=sys.stderr)
        return None
    # Every call carries a deadline (aidlink.deadlines); the node passes what is left of it on to the matcher.
    return with_deadlines(channel, deadline or DEFAULT_UNARY_DEADLINE_S, deadline or DEFAULT_STREAM_DEADLINE_S)
