"""What the matcher knows about the call being served: who asks, for what.

The audit interceptor opens a `CallRecord` for every call; the authentication
interceptor puts the verified caller into it, and the servicer fills in what only
it knows (purpose, agreement, datasets, counts). All run in the same worker
thread, so a context variable carries the record between them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc


@dataclass(frozen=True)
class Caller:
    department: str  # from the verified certificate (or the dev flag on loopback)
    identity: str  # certificate subject CN and serial, for the audit trail
    kind: str = "node"  # node | matcher | officer


@dataclass
class CallRecord:
    method: str
    caller: Caller | None = None
    purpose: str = ""
    agreement: str = ""
    datasets: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # What an allowed call's entry says besides its counts: e.g. which rules refused records of
    # an upload (a refused call's entry says why it was refused instead).
    note: str = ""
    # A streaming servicer sets this while it yields progress messages (no data
    # about persons); the audit entry is appended before the first message sent
    # while it is False, i.e. before any answer.
    preliminary: bool = False

    @property
    def verified_caller(self) -> Caller:
        """The caller the authentication interceptor verified: every method not served to
        anyone (OPEN_METHOD_PREFIXES) has one."""
        if self.caller is None:
            raise RuntimeError(f"{self.method}: no verified caller; the authentication interceptor did not run")
        return self.caller


_current: contextvars.ContextVar[CallRecord] = contextvars.ContextVar("aidlink_call")

# Methods served to anyone who passed the TLS handshake: no caller, no audit entry.
OPEN_METHOD_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def current_call() -> CallRecord:
    """The record of the call being served (set by the audit interceptor)."""
    return _current.get()


def bind_call(record: CallRecord) -> contextvars.Token:
    return _current.set(record)


def unbind_call(token: contextvars.Token) -> None:
    _current.reset(token)


def wrap_handler(
    handler: grpc.RpcMethodHandler, wrap: Callable[[Callable[..., Any], bool], Callable[..., Any]]
) -> grpc.RpcMethodHandler:
    """``handler`` with its behaviour replaced by ``wrap(behaviour, response_streaming)``:
    the one place that knows gRPC's four handler shapes, for the matcher's interceptors."""
    if handler.response_streaming:
        factory = (
            grpc.stream_stream_rpc_method_handler if handler.request_streaming else grpc.unary_stream_rpc_method_handler
        )
        behavior = handler.stream_stream or handler.unary_stream
    else:
        factory = (
            grpc.stream_unary_rpc_method_handler if handler.request_streaming else grpc.unary_unary_rpc_method_handler
        )
        behavior = handler.stream_unary or handler.unary_unary
    return factory(
        wrap(behavior, handler.response_streaming),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
