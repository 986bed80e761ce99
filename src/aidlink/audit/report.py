"""Officer's periodic report: who called for what with what outcome, and what looks wrong.

Counts per department by purpose and outcome over [since, until), and three
anomalies: refusal spikes (an hour with many more refusals than the
department's baseline), calls at unusual local hours, and a department far
above its usual volume. The baseline is the window of `baseline_days` before
`since`. Departments refused by an agreement's volume limit (matcher.policy) are
listed apart, per agreement: each such refusal is an attempt to see more of a
provider's records than the agreement allows. Counting is done by the database (GROUP BY department, purpose,
outcome, UTC hour); hours are then read in the officer's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from aidlink.audit.query import LOCAL_OFFSET, EntryFilter, stored_time
from aidlink.audit.store import SQLAuditStore
from aidlink.matcher.errors import VolumeLimitExceeded

Hourly = list[tuple[str, str, str, str, int]]


@dataclass(frozen=True)
class ReportOptions:
    tz: timezone = LOCAL_OFFSET
    quiet_hours: tuple[int, int] = (22, 6)  # local [start, end) hours that are unusual for calls
    baseline_days: float = 28.0
    spike_factor: float = 3.0  # hourly refusals above factor x baseline hourly mean ...
    spike_min: int = 5  # ... and at least this many
    volume_factor: float = 3.0  # calls above factor x the volume expected from the baseline ...
    volume_min: int = 20  # ... and at least this many

    def __post_init__(self) -> None:
        start, end = self.quiet_hours
        if not (0 <= start < 24 and 0 <= end < 24):
            raise ValueError(f"quiet hours must be hours 0-23, got {start}-{end}")
        if self.baseline_days <= 0:
            raise ValueError(f"baseline must be a positive number of days, got {self.baseline_days}")

    def is_quiet(self, hour: int) -> bool:
        start, end = self.quiet_hours
        return start <= hour < end if start < end else hour >= start or hour < end


@dataclass(frozen=True)
class CountRow:
    department: str
    purpose: str
    outcome: str
    count: int


@dataclass(frozen=True)
class Anomaly:
    kind: str  # refusal-spike | unusual-hours | volume
    department: str
    count: int
    message: str


@dataclass(frozen=True)
class VolumeRefusals:
    """Calls of a department refused by an agreement's volume limit in the period."""

    department: str
    agreement: str
    count: int
    last: str  # the latest refusal's message


@dataclass
class AuditReport:
    since: datetime
    until: datetime
    options: ReportOptions
    rows: list[CountRow] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    volume_refusals: list[VolumeRefusals] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rows)


def _utc_hour(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _local(moment: datetime, tz: timezone) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def build_report(
    store: SQLAuditStore, since: datetime, until: datetime, options: ReportOptions = ReportOptions()
) -> AuditReport:
    """The report for [since, until) (aware datetimes)."""
    if until <= since:
        raise ValueError(
            f"report period is empty: until ({until.isoformat()}) is not after since ({since.isoformat()})"
        )
    baseline_start = since - timedelta(days=options.baseline_days)
    period = store.hourly_counts(stored_time(since), stored_time(until))
    baseline = store.hourly_counts(stored_time(baseline_start), stored_time(since))
    report = AuditReport(since, until, options)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for dept, purpose, outcome, _, n in period:
        counts[(dept, purpose, outcome)] += n
    report.rows = [CountRow(d, p, o, n) for (d, p, o), n in sorted(counts.items())]
    report.anomalies = (
        _refusal_spikes(period, baseline, options)
        + _unusual_hours(period, options)
        + _volume(period, baseline, since, until, options)
    )
    report.volume_refusals = _volume_refusals(store, since, until)
    return report


def _volume_refusals(store: SQLAuditStore, since: datetime, until: datetime) -> list[VolumeRefusals]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    last: dict[tuple[str, str], str] = {}
    rule = VolumeLimitExceeded.rule + ":"
    for row in store.query(EntryFilter(outcome="refused", since=stored_time(since), until=stored_time(until))):
        entry = row.entry
        if entry.status == VolumeLimitExceeded.status and entry.detail.startswith(rule):
            key = (entry.department, entry.agreement)
            counts[key] += 1
            last[key] = entry.detail
    return [VolumeRefusals(d, a, n, last[(d, a)]) for (d, a), n in sorted(counts.items())]


def _refusal_spikes(period: Hourly, baseline: Hourly, options: ReportOptions) -> list[Anomaly]:
    hours = options.baseline_days * 24
    usual: dict[str, float] = defaultdict(float)
    for dept, _, outcome, _, n in baseline:
        if outcome == "refused":
            usual[dept] += n / hours
    per_hour: dict[tuple[str, str], int] = defaultdict(int)
    for dept, _, outcome, bucket, n in period:
        if outcome == "refused":
            per_hour[(dept, bucket)] += n
    found = []
    for (dept, bucket), n in sorted(per_hour.items()):
        if n >= options.spike_min and n > options.spike_factor * usual[dept]:
            start = _utc_hour(bucket)
            found.append(
                Anomaly(
                    "refusal-spike",
                    dept,
                    n,
                    f"{n} refused calls in the hour from {_local(start, options.tz)} "
                    f"(usually {usual[dept]:.1f} an hour)",
                )
            )
    return found


def _unusual_hours(period: Hourly, options: ReportOptions) -> list[Anomaly]:
    by_dept: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for dept, _, _, bucket, n in period:
        start = _utc_hour(bucket)
        if options.is_quiet(start.astimezone(options.tz).hour):
            by_dept[dept].append((start, n))
    found = []
    q0, q1 = options.quiet_hours
    for dept, hours in sorted(by_dept.items()):
        total = sum(n for _, n in hours)
        first, last = min(h for h, _ in hours), max(h for h, _ in hours)
        found.append(
            Anomaly(
                "unusual-hours",
                dept,
                total,
                f"{total} calls between {q0:02d}:00 and {q1:02d}:00 local time, in the hours from "
                f"{_local(first, options.tz)} to {_local(last + timedelta(hours=1), options.tz)}",
            )
        )
    return found


def _volume(
    period: Hourly, baseline: Hourly, since: datetime, until: datetime, options: ReportOptions
) -> list[Anomaly]:
    scale = (until - since) / timedelta(days=options.baseline_days)
    now: dict[str, int] = defaultdict(int)
    before: dict[str, int] = defaultdict(int)
    for dept, _, _, _, n in period:
        now[dept] += n
    for dept, _, _, _, n in baseline:
        before[dept] += n
    found = []
    for dept, n in sorted(now.items()):
        expected = before[dept] * scale
        if n < options.volume_min or n <= options.volume_factor * expected:
            continue
        if expected == 0:
            message = f"{n} calls, and none in the previous {options.baseline_days:g} days"
        else:
            message = (
                f"{n} calls, {n / expected:.1f} times its usual volume ({expected:.1f} expected "
                f"from the previous {options.baseline_days:g} days)"
            )
        found.append(Anomaly("volume", dept, n, message))
    return found
