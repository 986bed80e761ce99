"""What the matcher knows about the call being served: who asks, for what.

The audit interceptor opens a `CallRecord` for every call; the servicer fills
in what only it knows (purpose, agreement, datasets, counts). Both run in the
same worker thread, so a context variable carries the record between them.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caller:
    department: str            # from the verified certificate (or the dev flag on loopback)
    identity: str              # certificate subject CN and serial, for the audit trail
    kind: str = "node"         # node | matcher | officer


@dataclass
class CallRecord:
    method: str
    caller: Caller | None = None
    purpose: str = ""
    agreement: str = ""
    datasets: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # A streaming servicer sets this while it yields progress messages (no data
    # about persons); the audit entry is appended before the first message sent
    # while it is False, i.e. before any answer.
    preliminary: bool = False


_current: contextvars.ContextVar[CallRecord] = contextvars.ContextVar("aidlink_call")


def current_call() -> CallRecord:
    """The record of the call being served (set by the audit interceptor)."""
    return _current.get()


def bind_call(record: CallRecord) -> contextvars.Token:
    return _current.set(record)


def unbind_call(token: contextvars.Token) -> None:
    _current.reset(token)
