"""Deadlines on every client call, honoured across hops.

Every aidlink client channel carries a :class:`DeadlineInterceptor`: a call made without a
``timeout`` gets the channel's default (one for unary calls, a longer one for streams: uploads and
comparisons), so no call can wait forever on a peer that stopped answering.

Across hops: a server that calls another service while serving a call (the node calls the matcher
while serving the department's CLI) runs :class:`IncomingDeadline` as a server interceptor. It
keeps the incoming call's deadline for the handler's thread, and the outgoing channel's
:class:`DeadlineInterceptor` gives the outgoing call the time the incoming one has left (or less,
never more). So a CLI deadline of 5 s ends the matcher's work for that call at 5 s too: the matcher
sees the deadline, answers DEADLINE_EXCEEDED and audits the call as such, instead of working on
for a caller that is gone.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from aidlink.matcher.calls import wrap_handler

DEFAULT_UNARY_DEADLINE_S = 30.0
DEFAULT_STREAM_DEADLINE_S = 3600.0  # uploads and comparisons (a 10^6 x 10^6 comparison takes minutes)

# time.monotonic() at which the call this thread serves must be answered; None: no deadline.
_incoming_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "aidlink_incoming_deadline", default=None
)


def incoming_time_remaining() -> float | None:
    """Seconds left to the call being served by this thread (None: no call, or no deadline)."""
    deadline = _incoming_deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def check_deadline(value: float, name: str = "deadline") -> float:
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value}")
    return value


class IncomingDeadline(grpc.ServerInterceptor):
    """Server interceptor: binds the incoming call's deadline while its handler runs."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None

        def bind(context: grpc.ServicerContext) -> contextvars.Token[float | None]:
            remaining = context.time_remaining()
            return _incoming_deadline.set(None if remaining is None else time.monotonic() + remaining)

        def wrap(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            if streaming:

                def bound_stream(request: object, context: grpc.ServicerContext) -> Iterator[object]:
                    token = bind(context)
                    try:
                        yield from behavior(request, context)
                    finally:
                        _incoming_deadline.reset(token)

                return bound_stream

            def bound(request: object, context: grpc.ServicerContext) -> Any:
                token = bind(context)
                try:
                    return behavior(request, context)
                finally:
                    _incoming_deadline.reset(token)

            return bound

        return wrap_handler(handler, wrap)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, base: grpc.ClientCallDetails, timeout: float) -> None:
        self.method, self.metadata, self.credentials = base.method, base.metadata, base.credentials
        self.wait_for_ready, self.compression = base.wait_for_ready, getattr(base, "compression", None)
        self.timeout = timeout


class DeadlineInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Client interceptor: every call gets a deadline, at most the incoming call's remaining time."""

    def __init__(self, unary_s: float = DEFAULT_UNARY_DEADLINE_S, stream_s: float = DEFAULT_STREAM_DEADLINE_S) -> None:
        self.unary_s, self.stream_s = check_deadline(unary_s), check_deadline(stream_s)

    def timeout(self, asked: float | None, streaming: bool) -> float:
        """The deadline of an outgoing call that asked for ``asked`` seconds (None: the default)."""
        timeout = asked if asked is not None else (self.stream_s if streaming else self.unary_s)
        remaining = incoming_time_remaining()
        if remaining is not None:
            timeout = min(timeout, max(remaining, 0.0))
        return timeout

    def _details(self, details: grpc.ClientCallDetails, streaming: bool) -> grpc.ClientCallDetails:
        return _CallDetails(details, self.timeout(details.timeout, streaming))

    def intercept_unary_unary(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details, False), request)

    def intercept_unary_stream(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details, True), request)

    def intercept_stream_unary(self, continuation: Any, details: grpc.ClientCallDetails, requests: Any) -> Any:
        return continuation(self._details(details, True), requests)

    def intercept_stream_stream(self, continuation: Any, details: grpc.ClientCallDetails, requests: Any) -> Any:
        return continuation(self._details(details, True), requests)


def with_deadlines(
    channel: grpc.Channel, unary_s: float = DEFAULT_UNARY_DEADLINE_S, stream_s: float = DEFAULT_STREAM_DEADLINE_S
) -> grpc.Channel:
    """``channel`` with a deadline on every call (see :class:`DeadlineInterceptor`)."""
    return grpc.intercept_channel(channel, DeadlineInterceptor(unary_s, stream_s))
