"""Every call to the node's API: the caller admitted or refused, then the call logged.

One server interceptor in front of the node's servicers. It names the caller by the way the call
came in (:mod:`aidlink.gateway.node_access`): the Unix socket, a verified system certificate on
the mTLS port, or plaintext TCP in development mode. A refused caller is answered with the
refusal's status; every call, admitted or not, is appended to the node's call log
(:mod:`aidlink.gateway.call_log`) before its answer goes out (a streaming answer: when it ends),
with the dataset, agreement, purpose and referral fields it named. A call the log cannot record is
answered UNAVAILABLE. Health checks are open and not logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
from google.protobuf.message import Message

from aidlink.gateway.call_log import CallLog, CallLogUnavailable, NodeCall
from aidlink.gateway.node_access import INSECURE_CALLER, UNIX_CALLER, NodeRefusal
from aidlink.matcher.calls import OPEN_METHOD_PREFIXES, wrap_handler

# The request and answer fields a call log entry names (never person fields).
NAMED_FIELDS = frozenset(
    {
        "dataset",
        "my_dataset",
        "other_dataset",
        "catalog_entry",
        "catalog_version",
        "purpose",
        "agreement",
        "referral_id",
        "warning_id",
        "id",  # a warning's or a dispute's id
        "to_department",
        "status",
    }
)


def named_fields(message: Message, into: dict[str, str]) -> None:
    """Copy the NAMED_FIELDS ``message`` sets (recursing into its sub-messages) into ``into``."""
    for descriptor, value in message.ListFields():
        if descriptor.is_repeated:  # lists and maps: rows, matches, a person's fields
            continue
        if descriptor.message_type is not None:
            named_fields(value, into)
        elif descriptor.name in NAMED_FIELDS:
            if descriptor.enum_type is not None:
                enum_value = descriptor.enum_type.values_by_number.get(value)
                value = enum_value.name if enum_value is not None else value
            into.setdefault(descriptor.name, str(value))


class Callers:
    """How the node names (or refuses) a caller, by the way the call came in."""

    def __init__(self, systems: Callable[[grpc.ServicerContext], str] | None, insecure_tcp: bool) -> None:
        self.systems, self.insecure_tcp = systems, insecure_tcp

    def __call__(self, context: grpc.ServicerContext) -> str:
        if context.peer().startswith("unix:"):
            return UNIX_CALLER
        security = context.auth_context().get("transport_security_type") or [b""]
        if self.systems is not None and security[0] == b"ssl":
            return self.systems(context)
        if self.insecure_tcp:
            return INSECURE_CALLER
        raise NodeRefusal(
            grpc.StatusCode.UNAUTHENTICATED, "this node admits only its Unix socket and mTLS callers", "(unknown)"
        )


class NodeCallInterceptor(grpc.ServerInterceptor):
    def __init__(self, callers: Callable[[grpc.ServicerContext], str], log: CallLog) -> None:
        self.callers, self.log = callers, log

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        return wrap_handler(
            handler, lambda behavior, streaming: (self._streaming if streaming else self._unary)(method, behavior)
        )

    # -- the two shapes of answer ----------------------------------------------------------------
    def _unary(self, method: str, behavior):
        def logged(request, context):
            call, request = self._admit(method, request, context)
            try:
                response = behavior(request, context)
            except Exception:
                self._ended(call, context)
                raise
            named_fields(response, call.subject)
            self._record(call, context, grpc.StatusCode.OK, "")
            return response

        return logged

    def _streaming(self, method: str, behavior):
        def logged(request, context) -> Iterator:
            call, request = self._admit(method, request, context)
            try:
                for message in behavior(request, context):
                    named_fields(message, call.subject)
                    yield message
            except GeneratorExit:
                self._record(call, context, grpc.StatusCode.CANCELLED, "the caller went away", quiet=True)
                raise
            except Exception:
                self._ended(call, context)
                raise
            self._record(call, context, grpc.StatusCode.OK, "")

        return logged

    # -- helpers ---------------------------------------------------------------------------------
    def _admit(self, method: str, request, context: grpc.ServicerContext):
        call = NodeCall(method=method, peer=context.peer())
        if isinstance(request, Message):
            named_fields(request, call.subject)
        else:  # a request stream: name what its messages name as they pass
            request = self._watched(request, call)
        try:
            call.identity = self.callers(context)
        except NodeRefusal as refusal:
            call.identity = refusal.identity
            self._record(call, context, refusal.code, refusal.message)
            context.abort(refusal.code, refusal.message)
        return call, request

    @staticmethod
    def _watched(requests: Iterator[Message], call: NodeCall) -> Iterator[Message]:
        for message in requests:
            named_fields(message, call.subject)  # repeated fields (the rows themselves) are skipped
            yield message

    def _ended(self, call: NodeCall, context: grpc.ServicerContext) -> None:
        code = context.code()
        if code is None or code == grpc.StatusCode.OK:
            code = grpc.StatusCode.UNKNOWN
        detail = context.details() or ""
        self._record(call, context, code, detail.decode("utf-8", "replace") if isinstance(detail, bytes) else detail)

    def _record(
        self, call: NodeCall, context: grpc.ServicerContext, code: grpc.StatusCode, detail: str, quiet: bool = False
    ) -> None:
        call.status, call.detail = code.name, detail
        try:
            self.log.append(call)
        except CallLogUnavailable as exc:
            if not quiet:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
