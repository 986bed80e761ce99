"""Fair service: no department, and no kind of call, can take every worker of the matcher.

The matcher's gRPC server is synchronous: every call in progress holds one worker thread of a
fixed pool (``ServiceLimits.workers``) until it ends, a long-poll stream (``Disputes.Inbox``
waits up to 30 s for an event) or a long comparison included. :class:`AdmissionInterceptor`
counts the calls in progress and refuses, before the servicer runs, a call that would exceed

- ``department_calls``: calls of one department in progress at once (any shape);
- ``department_streams``: streaming calls (uploads, comparisons, long polls) of one department;
- ``streams``: streaming calls of all departments together. It is smaller than ``workers``, so
  ``workers - streams`` workers are always left to unary calls, however many long polls wait.

A refused call is answered RESOURCE_EXHAUSTED naming the department, the limit and its setting
(:class:`LimitReached`), and the audit interceptor records it like every refusal. Security
officers, who have no department, share one count. The methods
served to anyone past the TLS handshake (health, reflection: no caller, no audit entry) share
one budget of ``department_streams`` streams, so health ``Watch`` streams cannot take the pool
either.

Why not grpc's ``maximum_concurrent_rpcs``: it is one global count, refuses before the caller is
known (the refusal can name no department and is not audited), and a long poll admitted under it
still holds its worker; one department could take the whole count.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from aidlink.matcher.calls import OPEN_METHOD_PREFIXES, current_call, wrap_handler
from aidlink.matcher.errors import Refused

OFFICERS = "officers"  # the security officers share one count (they have no department)


def _who(department: str) -> tuple[str, str]:
    """Who is counted under ``department``, and the verb's form: ("department edu", "has")."""
    if not department:
        return "the health and reflection callers", "have"
    if department == OFFICERS:
        return "the security officers", "have"
    return f"department {department}", "has"


@dataclass(frozen=True)
class ServiceLimits:
    workers: int = 32  # worker threads of the gRPC server: calls in progress at once, all callers
    streams: int = 16  # streaming calls in progress at once, all departments (< workers)
    department_calls: int = 8  # calls in progress at once from one department
    department_streams: int = 4  # streaming calls in progress at once from one department

    def __post_init__(self) -> None:
        for name in ("workers", "streams", "department_calls", "department_streams"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.streams >= self.workers:
            raise ValueError(
                f"streams ({self.streams}) must be fewer than workers ({self.workers}): the difference is "
                "the workers unary calls always find free"
            )
        if self.department_streams > self.streams:
            raise ValueError(f"department-streams ({self.department_streams}) exceeds streams ({self.streams})")


class LimitReached(Refused):
    """A call refused because its department (or the matcher) has as many calls in progress as
    the limit allows; it may be retried once one of them ends."""

    status = "RESOURCE_EXHAUSTED"
    reason = "CONCURRENCY_LIMIT"

    def __init__(self, message: str, department: str, limit: int, setting: str) -> None:
        super().__init__(message)
        self.metadata = {"department": department, "limit": str(limit), "setting": setting}


class Admission:
    """The counts of calls in progress, per department and of streams overall (thread-safe)."""

    def __init__(self, limits: ServiceLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._streams: Counter[str] = Counter()

    def enter(self, department: str, stream: bool) -> None:
        """Count a call in, or raise :class:`LimitReached` (counting nothing)."""
        lim = self.limits
        who, has = _who(department)
        with self._lock:
            if stream:
                if self._streams[department] >= lim.department_streams:
                    raise LimitReached(
                        f"{who} already {has} {self._streams[department]} streaming calls in progress; "
                        f"at most {lim.department_streams} at once per department (setting department-streams)",
                        department,
                        lim.department_streams,
                        "department-streams",
                    )
                total = sum(self._streams.values())
                if total >= lim.streams:
                    raise LimitReached(
                        f"the matcher already serves {total} streaming calls, its limit for all departments "
                        f"together (setting streams: {lim.streams}); {who} may retry shortly",
                        department,
                        lim.streams,
                        "streams",
                    )
            if department and self._calls[department] >= lim.department_calls:
                raise LimitReached(
                    f"{who} already {has} {self._calls[department]} calls in progress; "
                    f"at most {lim.department_calls} at once per department (setting department-calls)",
                    department,
                    lim.department_calls,
                    "department-calls",
                )
            self._calls[department] += 1
            if stream:
                self._streams[department] += 1

    def leave(self, department: str, stream: bool) -> None:
        with self._lock:
            self._calls[department] -= 1
            if stream:
                self._streams[department] -= 1

    def in_progress(self) -> dict[str, tuple[int, int]]:
        """Department -> (calls, streams) in progress now ("officers" for the security officers, "" for
        health and reflection callers)."""
        with self._lock:
            return {d: (n, self._streams[d]) for d, n in self._calls.items() if n}


class AdmissionInterceptor(grpc.ServerInterceptor):
    """Counts every call in and out (after authentication, so the department is the verified one);
    refuses over-limit calls with :class:`LimitReached` before the servicer runs."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        is_open = handler_call_details.method.startswith(OPEN_METHOD_PREFIXES)
        is_stream = bool(handler.request_streaming or handler.response_streaming)
        admission = self.admission

        def department() -> str:
            if is_open:
                return ""
            caller = current_call().verified_caller
            return caller.department if caller.kind == "node" else OFFICERS

        def enter(context: grpc.ServicerContext) -> str:
            dept = department()
            try:
                admission.enter(dept, is_stream)
            except LimitReached as exc:
                if is_open:  # not answered by the error-mapping interceptor (no caller, no audit entry)
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
                raise
            return dept

        def wrap(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            if streaming:

                def admitted_stream(request: object, context: grpc.ServicerContext) -> Iterator[object]:
                    dept = enter(context)
                    try:
                        yield from behavior(request, context)
                    finally:
                        admission.leave(dept, is_stream)

                return admitted_stream

            def admitted(request: object, context: grpc.ServicerContext) -> Any:
                dept = enter(context)
                try:
                    return behavior(request, context)
                finally:
                    admission.leave(dept, is_stream)

            return admitted

        return wrap_handler(handler, wrap)
