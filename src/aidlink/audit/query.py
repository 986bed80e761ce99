"""What an officer asks of the log: entry filters and the time strings they use.

Entry times are stored as RFC 3339 UTC strings of fixed width
(``2024-05-01T08:00:00.000000Z``), so a time window is a string range.
A time given without an offset is read in the officer's local time
(``LOCAL_OFFSET``, China Standard Time, UTC+8, unless said otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from aidlink.audit.entry import OUTCOMES

LOCAL_OFFSET = timezone(timedelta(hours=8), "UTC+08:00")


def parse_time(text: str, local: timezone = LOCAL_OFFSET) -> datetime:
    """An ISO 8601 time or date (``2024-05-01``, ``2024-05-01T22:00``, ``...Z``, ``...+08:00``).

    Without an offset the time is taken in `local`.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {text!r} is not an ISO 8601 date or time, e.g. 2024-05-01T08:00+08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local)
    return moment


def stored_time(moment: datetime) -> str:
    """`moment` in the stored form (UTC, microseconds, ``Z``), comparable as a string."""
    if moment.tzinfo is None:
        raise ValueError(f"time {moment.isoformat()} has no offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_time(stored: str) -> datetime:
    """The aware datetime of a stored entry time."""
    return datetime.fromisoformat(stored.replace("Z", "+00:00"))


def normalise_purpose(purpose: str) -> str:
    """Purposes are stored as ``eligibility-check``; accept ``ELIGIBILITY_CHECK`` too."""
    return purpose.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class EntryFilter:
    """Which entries to return. Unset fields match everything; set fields must all match.

    `identity` matches any part of the certificate identity; `method` matches the full
    gRPC method or its last part (``CompareDatasets``); `since` is inclusive and
    `until` exclusive (both in stored form, see `stored_time`); `from_seq` and
    `to_seq` are inclusive.
    """

    department: str | None = None
    identity: str | None = None
    method: str | None = None
    purpose: str | None = None
    agreement: str | None = None
    dataset: str | None = None
    outcome: str | None = None
    since: str | None = None
    until: str | None = None
    from_seq: int | None = None
    to_seq: int | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"outcome filter must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}")
        for name in ("from_seq", "to_seq"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")

    def where(self, placeholder: str = "?") -> tuple[str, list[object]]:
        """A portable SQL condition over the audit_entries columns, and its parameters."""
        clauses: list[str] = []
        params: list[object] = []

        def add(clause: str, *values: object) -> None:
            clauses.append(clause.replace("?", placeholder))
            params.extend(values)

        for column in ("department", "agreement", "outcome"):
            value = getattr(self, column)
            if value is not None:
                add(f"{column} = ?", value)
        if self.purpose is not None:
            add("purpose = ?", normalise_purpose(self.purpose))
        if self.identity is not None:
            add("identity LIKE ? ESCAPE '\\'", f"%{_like_escape(self.identity)}%")
        if self.method is not None:
            if self.method.startswith("/"):
                add("method = ?", self.method)
            else:
                add("method LIKE ? ESCAPE '\\'", f"%/{_like_escape(self.method)}")
        if self.dataset is not None:
            add("datasets LIKE ? ESCAPE '\\'", f"%|{_like_escape(self.dataset)}|%")
        if self.since is not None:
            add("time >= ?", self.since)
        if self.until is not None:
            add("time < ?", self.until)
        if self.from_seq is not None:
            add("seq >= ?", self.from_seq)
        if self.to_seq is not None:
            add("seq <= ?", self.to_seq)
        return (" AND ".join(clauses) or "1 = 1"), params


def datasets_column(datasets: tuple[str, ...]) -> str:
    """The datasets of an entry as stored for filtering: ``|a|b|`` (empty string for none)."""
    return "|" + "|".join(datasets) + "|" if datasets else ""


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
