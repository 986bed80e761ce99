"""The audit entry: one record per matcher call, allowed, refused, failed or cancelled.

An entry's canonical bytes (sorted-key compact JSON, UTF-8) are what the log
hashes; they never change once written. Entries describe calls, not people:
they name datasets, purposes and counts, never encodings or identifiers.
Each stored entry carries its own position (`seq`), so an entry moved to
another position no longer verifies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
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
# Every string an entry holds is bounded when it is appended (AuditEntry.bounded), whatever the
# caller sent: requests are bounded before they are used (matcher.request_bounds), and this is
# the defence in depth. A longer string is cut and says how long it was.
MAX_FIELD_CHARS = 256
MAX_DETAIL_CHARS = 1024
MAX_DATASETS = 8
MAX_COUNTS = 32

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

    def bounded(self) -> AuditEntry:
        """This entry with every string cut to its bound, marked with its original length
        (itself when nothing is too long)."""
        changes: dict[str, object] = {}
        for name in ("time", "method", "outcome", "status", "department", "identity", "purpose", "agreement", "peer"):
            value = getattr(self, name)
            if len(value) > MAX_FIELD_CHARS:
                changes[name] = truncated(value, MAX_FIELD_CHARS)
        if len(self.detail) > MAX_DETAIL_CHARS:
            changes["detail"] = truncated(self.detail, MAX_DETAIL_CHARS)
        datasets = tuple(truncated(d, MAX_FIELD_CHARS) for d in self.datasets[:MAX_DATASETS])
        if len(self.datasets) > MAX_DATASETS:
            datasets += (f"[{len(self.datasets) - MAX_DATASETS} more datasets]",)
        if datasets != self.datasets:
            changes["datasets"] = datasets
        if len(self.counts) > MAX_COUNTS or any(len(k) > MAX_FIELD_CHARS for k in self.counts):
            changes["counts"] = {truncated(k, MAX_FIELD_CHARS): v for k, v in list(self.counts.items())[:MAX_COUNTS]}
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]

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


def truncated(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and how long it was."""
    if len(text) <= limit:
        return text
    marker = f"…[truncated: {len(text)} characters]"
    return text[: max(0, limit - len(marker))] + marker


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
