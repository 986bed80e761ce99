"""Audits every matcher call, allowed, refused, failed or cancelled, before it is answered.

A server interceptor that only records: it opens a CallRecord (which the
authentication interceptor and the servicer fill in) and appends one audit entry
when the call is decided, classified by :func:`aidlink.audit.entry.audit_outcome`
from the status the error-mapping interceptor (inside this one) answered with.
Unary answers are sent only after the entry is durable; a streaming answer is
held back until its first answering message is ready and the entry is durable
(progress messages the servicer marks preliminary may go first). A caller that
goes away before its answer is recorded as cancelled. If the audit log cannot
write, the call is answered UNAVAILABLE (fail closed), whatever it would have been
answered: a refusal or a failure the log cannot record replaces the status the
error-mapping interceptor set (gRPC sends the status only once the handler returns,
so a second ``context.abort`` overrides the first). Nothing is answered unaudited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc

from aidlink.audit.entry import AuditEntry, audit_outcome, utc_now
from aidlink.audit.log import AuditLog, AuditUnavailable
from aidlink.matcher.calls import OPEN_METHOD_PREFIXES, CallRecord, bind_call, unbind_call, wrap_handler
from aidlink.matcher.error_details import rich_status
from aidlink.matcher.error_mapping import caller_gone, gone_detail

log = logging.getLogger("aidlink.matcher.audit")

UNAUDITED_PREFIXES = OPEN_METHOD_PREFIXES


class AuditInterceptor(grpc.ServerInterceptor):
    def __init__(self, audit_log: AuditLog | None):
        self.audit_log = audit_log  # None: audit disabled (benchmarks only); calls still get a record

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(UNAUDITED_PREFIXES):
            return handler
        return wrap_handler(
            handler, lambda behavior, streaming: (self._streaming if streaming else self._unary)(method, behavior)
        )

    # -- the two shapes of call --------------------------------------------------------------
    def _unary(self, method: str, behavior):
        def audited(request, context):
            record = CallRecord(method=method)
            token = bind_call(record)
            try:
                response = behavior(request, context)
            except Exception:
                self._failed(record, context)
                raise
            finally:
                unbind_call(token)
            self._append(record, context, grpc.StatusCode.OK, record.note)
            return response

        return audited

    def _streaming(self, method: str, behavior):
        def audited(request, context) -> Iterator:
            record = CallRecord(method=method)
            token = bind_call(record)
            audited_yet = False
            try:
                for message in behavior(request, context):
                    if not audited_yet and not record.preliminary:
                        self._append(record, context, grpc.StatusCode.OK, record.note)
                        audited_yet = True
                    yield message
                if not audited_yet:
                    self._append(record, context, grpc.StatusCode.OK, record.note)
            except GeneratorExit:
                # gRPC stopped asking for messages: the caller cancelled, or its deadline passed.
                if not audited_yet:
                    gone = caller_gone(context) or grpc.StatusCode.CANCELLED
                    self._append(record, context, gone, gone_detail(gone), quiet=True)
                raise
            except Exception:
                self._failed(record, context)
                raise
            finally:
                unbind_call(token)

        return audited

    # -- helpers --------------------------------------------------------------------------------
    def _failed(self, record: CallRecord, context: grpc.ServicerContext) -> None:
        """Record a call that ended with an exception, under the status it was answered with."""
        code = context.code()
        if code is None or code == grpc.StatusCode.OK:  # not answered by the error-mapping interceptor
            code = grpc.StatusCode.UNKNOWN
        detail = context.details() or ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        self._append(record, context, code, detail)

    def _append(self, record: CallRecord, context, code: grpc.StatusCode, detail: str, quiet: bool = False) -> None:
        if self.audit_log is None:
            return
        caller = record.caller
        entry = AuditEntry(
            time=utc_now(),
            method=record.method,
            outcome=audit_outcome(code.name),
            status=code.name,
            department=caller.department if caller else "",
            identity=caller.identity if caller else "",
            purpose=record.purpose,
            agreement=record.agreement,
            datasets=tuple(record.datasets),
            counts=dict(record.counts),
            detail=detail,
            peer=context.peer(),
        )
        try:
            self.audit_log.append(entry)
        except AuditUnavailable as exc:
            log.error("AUDIT UNAVAILABLE, refusing %s: %s", record.method, exc)
            if not quiet:  # quiet: the caller is gone, there is nobody to answer
                # With its own details: the trailer of a refusal answered before is replaced.
                context.abort_with_status(
                    rich_status(
                        grpc.StatusCode.UNAVAILABLE,
                        "the audit log cannot record this call, so it is refused (fail closed)",
                        "AUDIT_UNAVAILABLE",
                    )
                )
