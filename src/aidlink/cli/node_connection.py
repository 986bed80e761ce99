"""How the CLI reaches a department's node (`--gateway`): keepalive, the message size limit and a
deadline on every call (`--deadline`, else 30 s for a unary call and an hour for a stream); the
node gives its calls to the matcher no more than what is left of it (aidlink.deadlines)."""

from __future__ import annotations

import argparse

import grpc

from aidlink.deadlines import DEFAULT_STREAM_DEADLINE_S, DEFAULT_UNARY_DEADLINE_S, check_deadline, with_deadlines
from aidlink.transport import check_max_message_bytes, client_options


class InvalidSetting(argparse.ArgumentTypeError, ValueError):
    """A flag's value refused with its own message (argparse shows it; settings files report it)."""


def seconds(text: str) -> float:
    """A deadline flag's value: a positive number of seconds."""
    try:
        return check_deadline(float(text), "a deadline")
    except ValueError as exc:
        raise InvalidSetting(str(exc)) from None


def message_bytes(text: str) -> int:
    """A ``--max-message-bytes`` value: an integer from 1024 to 2^31-1."""
    try:
        return check_max_message_bytes(int(text))
    except ValueError as exc:
        raise InvalidSetting(str(exc) if text.strip().lstrip("-").isdigit() else f"not an integer: {text!r}") from None


def add_gateway_options(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    parser.add_argument("--gateway", default="127.0.0.1:50061", help=help_text)
    parser.add_argument(
        "--deadline",
        type=seconds,
        metavar="SECONDS",
        help=f"give up a call to the node after SECONDS, the node's calls to the matcher included "
        f"(default: {DEFAULT_UNARY_DEADLINE_S:g} s for a unary call, {DEFAULT_STREAM_DEADLINE_S:g} s "
        "for an upload or a comparison)",
    )


def gateway_channel(args: argparse.Namespace) -> grpc.Channel:
    """A channel to ``args.gateway`` whose every call carries a deadline."""
    deadline = getattr(args, "deadline", None)
    return with_deadlines(
        grpc.insecure_channel(args.gateway, options=client_options()),
        deadline or DEFAULT_UNARY_DEADLINE_S,
        deadline or DEFAULT_STREAM_DEADLINE_S,
    )
