"""The audit entry: one record per matcher call, allowed, refused, failed or cancelled.

An entry's canonical bytes (sorted-key compact JSON, UTF-8) are what the log
hashes; they never change once written. Entries describe calls, not people:
they name datasets, purposes and counts, never encodings or identifiers.
Each stored entry carries its own position (`seq`), so an entry moved to
another position no longer verifies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

OUTCOMES = ("allowed", "refused", "error", "cancelled")
# gRPC status names that mean the matcher (or its policy) declined the call.
REFUSED_STATUSES = frozenset(
    {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "FAILED_PRECONDITION",
        "RESOURCE_EXHAUSTED",
        "OUT_OF_RANGE",
        "ALREADY_EXISTS",
    }
)
# The caller went away (cancelled, or its deadline passed) before the answer.
CANCELLED_STATUSES = frozenset({"CANCELLED", "DEADLINE_EXCEEDED"})


def audit_outcome(status: str) -> str:
    """The audit class of a call that ended with gRPC status ``status`` (its name, e.g. "NOT_FOUND"):
    allowed, refused, cancelled, or error. The one classification for online and offline calls."""
    if status == "OK":
        return "allowed"
    if status in REFUSED_STATUSES:
        return "refused"
    if status in CANCELLED_STATUSES:
        return "cancelled"
    return "error"


@dataclass(frozen=True)
class AuditEntry:
    time: str  # RFC 3339 UTC, microseconds
    method: str  # full gRPC method, e.g. /aidlink.v1.Matcher/CompareDatasets
    outcome: str  # allowed | refused | error | cancelled (audit_outcome)
    status: str  # gRPC status code name, e.g. OK, PERMISSION_DENIED
    department: str = ""  # caller's department from its verified certificate
    identity: str = ""  # caller's certificate subject (CN) and serial
    purpose: str = ""
    agreement: str = ""
    datasets: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""  # the refusal or error message returned to the caller
    peer: str = ""
    seq: int | None = None  # position in the log, set by the log when it is appended

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.seq is not None and (isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 0):
            raise ValueError(f"audit entry seq must be a non-negative int or None, got {self.seq!r}")

    def canonical_bytes(self) -> bytes:
        # The same document as json of dataclasses.asdict(self), built without its deep copy.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["datasets"] = list(self.datasets)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_canonical_bytes(cls, raw: bytes) -> AuditEntry:
        data = json.loads(raw)
        data["datasets"] = tuple(data.get("datasets", ()))
        return cls(**data)


_FIELD_NAMES = tuple(f.name for f in fields(AuditEntry))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
