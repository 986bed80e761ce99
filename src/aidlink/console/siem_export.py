"""Audit entries as lines a SIEM reads: OCSF API Activity (class 6003) JSON, or ArcSight CEF.

Written here rather than with a library: there is no maintained Python OCSF or CEF writer that
covers both; each format is a few fixed fields (OCSF 1.3 schema, API Activity; CEF rev. 25), and
every caller-written string passes `escape_for_officer` first, so no control or bidi character
reaches the receiving system (a newline inside a CEF line would forge a second event).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from aidlink.audit.entry import AuditEntry
from aidlink.audit.officer_text import escape_for_officer
from aidlink.audit.query import entry_time
from aidlink.audit.store import StoredEntry

OCSF_VERSION = "1.3.0"
API_ACTIVITY = 6003  # OCSF class_uid; category 6 (Application Activity)
OTHER_ACTIVITY = 99  # OCSF activity_id "Other": a matcher call is not a create/read/update/delete of one object
PRODUCT = {"name": "aidlink matcher", "vendor_name": "aidlink"}
OCSF_STATUS = {
    "allowed": (1, "Success"),
    "refused": (2, "Failure"),
    "error": (2, "Failure"),
    "cancelled": (99, "Other"),
}
CEF_SEVERITY = {"allowed": 1, "refused": 5, "error": 7, "cancelled": 3}


def _safe(text: str) -> str:
    return escape_for_officer(text)


def _epoch_ms(entry: AuditEntry) -> int:
    return int(entry_time(entry.time).timestamp() * 1000)


def ocsf_event(row: StoredEntry) -> dict[str, object]:
    """One entry as an OCSF API Activity event."""
    e = row.entry
    status_id, status = OCSF_STATUS[e.outcome]
    service, _, operation = e.method.strip("/").rpartition("/")
    event: dict[str, object] = {
        "class_uid": API_ACTIVITY,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": OTHER_ACTIVITY,
        "activity_name": "Other",
        "type_uid": API_ACTIVITY * 100 + OTHER_ACTIVITY,
        "severity_id": 1 if e.outcome == "allowed" else 3,
        "time": _epoch_ms(e),
        "status_id": status_id,
        "status": status,
        "status_code": e.status,
        "status_detail": _safe(e.detail),
        "message": f"{_safe(e.method)} {e.outcome}",
        "actor": {"user": {"uid": _safe(e.identity), "name": _safe(e.identity)}},
        "api": {"operation": _safe(operation or e.method), "service": {"name": _safe(service)}},
        "src_endpoint": {"ip": _safe(e.peer)} if e.peer else {},
        "metadata": {"version": OCSF_VERSION, "product": PRODUCT, "uid": str(row.seq), "log_name": "aidlink audit"},
        "unmapped": {
            "department": _safe(e.department),
            "purpose": _safe(e.purpose),
            "agreement": _safe(e.agreement),
            "datasets": [_safe(d) for d in e.datasets],
            "counts": {_safe(k): v for k, v in e.counts.items()},
            "outcome": e.outcome,
        },
    }
    return event


def ocsf_lines(rows: Iterable[StoredEntry]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(ocsf_event(row), ensure_ascii=False, sort_keys=True) + "\n"


def _cef_header(text: str) -> str:
    return _safe(text).replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(text: str) -> str:
    # escape_for_officer has already turned line breaks into \uXXXX text; CEF escapes \ and =.
    return _safe(text).replace("\\", "\\\\").replace("=", "\\=")


def cef_line(row: StoredEntry, version: str = "0.1.0") -> str:
    """One entry as a CEF:0 line."""
    e = row.entry
    extension = {
        "rt": str(_epoch_ms(e)),
        "suser": e.identity,
        "request": e.method,
        "outcome": e.outcome,
        "src": e.peer.rsplit(":", 1)[0].removeprefix("ipv4:") if e.peer.startswith("ipv4:") else "",
        "msg": e.detail,
        "cn1Label": "seq",
        "cn1": str(row.seq),
        "cs1Label": "department",
        "cs1": e.department,
        "cs2Label": "purpose",
        "cs2": e.purpose,
        "cs3Label": "agreement",
        "cs3": e.agreement,
        "cs4Label": "datasets",
        "cs4": ",".join(e.datasets),
        "cs5Label": "status",
        "cs5": e.status,
    }
    ext = " ".join(f"{k}={_cef_value(v)}" for k, v in extension.items() if v)
    header = "|".join(
        [
            "CEF:0",
            "aidlink",
            "matcher",
            version,
            _cef_header(e.method),
            _cef_header(f"{e.method.rsplit('/', 1)[-1]} {e.outcome}"),
            str(CEF_SEVERITY[e.outcome]),
        ]
    )
    return f"{header}|{ext}\n"


def cef_lines(rows: Iterable[StoredEntry]) -> Iterator[str]:
    for row in rows:
        yield cef_line(row)
