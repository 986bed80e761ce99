"""How a call that did not succeed is answered: the one mapping from what went wrong to a gRPC status.

Servicers (and the authentication interceptor) just raise. :class:`ErrorMappingInterceptor`
answers, in this order:

- a call already answered with ``context.abort`` keeps its status;
- a domain refusal (:class:`aidlink.matcher.errors.Refused`, each with its ``status``) gets that
  status and its message, with ``google.rpc`` details (ErrorInfo, BadRequest naming the field:
  :mod:`aidlink.matcher.error_details`);
- a call whose caller went away (it cancelled, or its deadline passed) is CANCELLED or
  DEADLINE_EXCEEDED, logged as one line without a traceback: nothing went wrong on our side;
- anything else is a fault: INTERNAL, logged with its traceback, with a message that does not
  leak internals.

The audit interceptor (outside this one) reads the status and records the call; if it cannot,
it replaces this answer with UNAVAILABLE (the status leaves only when the handler returns).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from aidlink.matcher.calls import OPEN_METHOD_PREFIXES, current_call, wrap_handler
from aidlink.matcher.error_details import refusal_status, rich_status
from aidlink.matcher.errors import Refused

log = logging.getLogger("aidlink.matcher.calls")


def grpc_status(refusal: Refused) -> grpc.StatusCode:
    """The status code a domain refusal is answered with."""
    return getattr(grpc.StatusCode, refusal.status)


# A client whose deadline passes cancels the call at once; our copy of the deadline (taken when
# the call arrived) ends a transit time later. A cancel this close to the deadline is the deadline.
DEADLINE_SLACK_S = 1.0


def caller_gone(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """CANCELLED or DEADLINE_EXCEEDED when the caller no longer waits for an answer; else None."""
    if context.is_active():
        return None
    remaining = context.time_remaining()
    if remaining is not None and remaining <= DEADLINE_SLACK_S:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


class CallerGone(Exception):
    """Raised by a servicer that stops because its caller no longer waits (see :func:`too_late`)."""


def too_late(context: grpc.ServicerContext) -> bool:
    """Whether a call's caller is gone or its deadline is about to pass: a request stream the
    deadline cut short can end as if it were complete, so nothing is committed this late."""
    if not context.is_active():
        return True
    remaining = context.time_remaining()
    return remaining is not None and remaining <= DEADLINE_SLACK_S


def gone_detail(code: grpc.StatusCode) -> str:
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "the caller's deadline passed before the answer"
    return "the caller cancelled the call before the answer"


def answer_failure(context: grpc.ServicerContext, method: str, exc: Exception) -> None:
    """Answer a call whose servicer raised ``exc`` (always raises, as ``context.abort`` does)."""
    code = context.code()
    if code is not None and code != grpc.StatusCode.OK:
        raise exc  # already answered with context.abort
    if isinstance(exc, Refused):
        agreement = getattr(exc, "agreement", "")  # a policy limit's agreement, for the audit entry
        if agreement:
            current_call().agreement = agreement
        context.abort_with_status(refusal_status(exc))
    gone = caller_gone(context)
    if gone is None and isinstance(exc, CallerGone):  # stopped just before the deadline
        gone = grpc.StatusCode.DEADLINE_EXCEEDED
    if gone is not None:
        log.info("%s: %s", method, gone_detail(gone))
        context.abort(gone, gone_detail(gone))
    log.error("internal error in %s", method, exc_info=exc)
    context.abort_with_status(
        rich_status(
            grpc.StatusCode.INTERNAL,
            f"internal error ({type(exc).__name__}); the call was recorded",
            "INTERNAL_ERROR",
            {"exception": type(exc).__name__},
        )
    )


# grpcio ships no type stubs (and types-grpcio is not installed), so grpc.ServerInterceptor is Any.
class ErrorMappingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Answers every failed call through :func:`answer_failure`."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler

        def wrap(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            if streaming:

                def mapped_stream(request: object, context: grpc.ServicerContext) -> Iterator[object]:
                    try:
                        yield from behavior(request, context)
                    except Exception as exc:
                        answer_failure(context, method, exc)

                return mapped_stream

            def mapped(request: object, context: grpc.ServicerContext) -> Any:
                try:
                    return behavior(request, context)
                except Exception as exc:
                    answer_failure(context, method, exc)

            return mapped

        return wrap_handler(handler, wrap)
