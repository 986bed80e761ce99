"""Audits every matcher call, allowed or refused, before it is answered.

A server interceptor: it authenticates the caller, opens a CallRecord that the
servicer fills in, and appends one audit entry when the servicer has decided.
Unary answers are sent only after the entry is durable; a streaming answer is
held back until its first answering message is ready and the entry is
durable (progress messages the servicer marks preliminary may go first). If the
audit log cannot write, the call is refused (fail closed).
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterator

import grpc

from aidlink.audit.entry import AuditEntry, outcome_of, utc_now
from aidlink.audit.log import AuditLog, AuditUnavailable
from aidlink.matcher.authentication import NotAllowed, Unauthenticated, check_kind
from aidlink.matcher.calls import Caller, CallRecord, bind_call, unbind_call

log = logging.getLogger("aidlink.matcher.audit")

UNAUDITED_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def _outcome(code: grpc.StatusCode) -> str:
    return outcome_of(code.name)   # the same classes as the offline bundle import's entries


class AuditInterceptor(grpc.ServerInterceptor):
    def __init__(self, audit_log: AuditLog | None, authenticate: Callable[[grpc.ServicerContext], Caller]):
        self.audit_log = audit_log      # None: audit disabled (benchmarks only)
        self.authenticate = authenticate

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(UNAUDITED_PREFIXES):
            return handler
        if handler.response_streaming:
            wrap, factory = self._streaming, (grpc.unary_stream_rpc_method_handler
                                              if not handler.request_streaming
                                              else grpc.stream_stream_rpc_method_handler)
            behavior = handler.unary_stream or handler.stream_stream
        else:
            wrap, factory = self._unary, (grpc.unary_unary_rpc_method_handler
                                          if not handler.request_streaming
                                          else grpc.stream_unary_rpc_method_handler)
            behavior = handler.unary_unary or handler.stream_unary
        return factory(wrap(method, behavior), request_deserializer=handler.request_deserializer,
                       response_serializer=handler.response_serializer)

    # -- the two shapes of call --------------------------------------------------------------
    def _unary(self, method: str, behavior):
        def audited(request, context):
            record, token = self._open(method, context)
            try:
                response = behavior(request, context)
            except Exception as exc:
                self._refused(record, context, exc)
                raise
            finally:
                unbind_call(token)
            self._append(record, context, grpc.StatusCode.OK, "")
            return response
        return audited

    def _streaming(self, method: str, behavior):
        def audited(request, context) -> Iterator:
            record, token = self._open(method, context)
            audited_yet = False
            try:
                for message in behavior(request, context):
                    if not audited_yet and not record.preliminary:
                        self._append(record, context, grpc.StatusCode.OK, "")
                        audited_yet = True
                    yield message
                if not audited_yet:
                    self._append(record, context, grpc.StatusCode.OK, "")
            except Exception as exc:
                self._refused(record, context, exc)
                raise
            finally:
                unbind_call(token)
        return audited

    # -- helpers --------------------------------------------------------------------------------
    def _open(self, method: str, context: grpc.ServicerContext):
        record = CallRecord(method=method)
        token = bind_call(record)
        try:
            record.caller = self.authenticate(context)
            check_kind(record.caller, method)
        except Unauthenticated as exc:
            unbind_call(token)
            self._append(record, context, grpc.StatusCode.UNAUTHENTICATED, str(exc))
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"authentication failed: {exc}")
        except NotAllowed as exc:
            unbind_call(token)
            self._append(record, context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        return record, token

    def _refused(self, record: CallRecord, context: grpc.ServicerContext, exc: Exception) -> None:
        code = context.code()
        if code is None or code == grpc.StatusCode.OK:
            # Not a deliberate refusal: a fault. Do not leak internals to the caller.
            log.exception("internal error in %s", record.method, exc_info=exc)
            detail = f"internal error ({type(exc).__name__}); the call was recorded"
            self._append(record, context, grpc.StatusCode.INTERNAL, detail, quiet=True)
            context.abort(grpc.StatusCode.INTERNAL, detail)
        detail = context.details() or ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        self._append(record, context, code, detail, quiet=True)

    def _append(self, record: CallRecord, context, code: grpc.StatusCode, detail: str,
                quiet: bool = False) -> None:
        if self.audit_log is None:
            return
        caller = record.caller
        entry = AuditEntry(
            time=utc_now(), method=record.method, outcome=_outcome(code), status=code.name,
            department=caller.department if caller else "", identity=caller.identity if caller else "",
            purpose=record.purpose, agreement=record.agreement, datasets=tuple(record.datasets),
            counts=dict(record.counts), detail=detail, peer=context.peer())
        try:
            self.audit_log.append(entry)
        except AuditUnavailable as exc:
            log.error("AUDIT UNAVAILABLE, refusing %s: %s", record.method, exc)
            if not quiet:
                context.abort(grpc.StatusCode.UNAVAILABLE,
                              "the audit log cannot record this call, so it is refused (fail closed)")
