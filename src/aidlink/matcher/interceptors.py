"""The matcher's call interceptors, in the order that keeps its guarantees.

Outermost first: the audit interceptor opens the call's record and records how the call
ended; inside it, the error-mapping interceptor answers whatever was raised with one
status; innermost, the authentication interceptor verifies the caller and puts it into
the record; inside it, the admission interceptor refuses a call over its department's limits
of calls and streams in progress (matcher.admission); inside it, the request-bounds interceptor
refuses a request holding an oversized string (named and sized, never quoted). So an unauthenticated call is answered
UNAUTHENTICATED and still audited (as refused) before the answer leaves, an oversized request
is audited with its size, and a call the audit log cannot record, allowed or refused, is
answered UNAVAILABLE.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from aidlink.audit.log import AuditLog
from aidlink.matcher.admission import Admission, AdmissionInterceptor
from aidlink.matcher.audit_interceptor import AuditInterceptor
from aidlink.matcher.authentication import AuthenticationInterceptor
from aidlink.matcher.calls import Caller
from aidlink.matcher.error_mapping import ErrorMappingInterceptor
from aidlink.matcher.request_bounds import RequestBoundsInterceptor


def call_interceptors(
    audit_log: AuditLog | None,
    authenticate: Callable[[grpc.ServicerContext], Caller],
    admission: Admission | None = None,
) -> list[grpc.ServerInterceptor]:
    return [
        AuditInterceptor(audit_log),
        ErrorMappingInterceptor(),
        AuthenticationInterceptor(authenticate),
        *([AdmissionInterceptor(admission)] if admission is not None else []),
        RequestBoundsInterceptor(),
    ]
