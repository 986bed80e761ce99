"""The officer's report finds refusal spikes, calls at unusual hours and unusual volume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aidlink.audit.entry import AuditEntry
from aidlink.audit.log import AuditLog
from aidlink.audit.query import LOCAL_OFFSET, parse_time, stored_time
from aidlink.audit.report import ReportOptions, build_report
from aidlink.audit.sqlite_store import SQLiteAuditStore

DAY = datetime(2024, 6, 10, tzinfo=LOCAL_OFFSET)  # the reported day, local time (UTC+8)


def at(moment: datetime) -> str:
    return stored_time(moment)


def call(
    log: AuditLog, moment: datetime, department: str, outcome: str = "allowed", purpose: str = "eligibility-check"
) -> None:
    log.append(
        AuditEntry(
            time=at(moment),
            method="/aidlink.v1.Matcher/QueryStatus",
            outcome=outcome,
            status="OK" if outcome == "allowed" else "PERMISSION_DENIED",
            department=department,
            purpose=purpose,
        )
    )


@pytest.fixture
def store(tmp_path):
    log = AuditLog(SQLiteAuditStore(tmp_path / "audit.sqlite"), checkpoint_interval=None)
    for days_before in range(1, 29):  # a quiet baseline: two calls a day each, office hours
        day = DAY - timedelta(days=days_before)
        for dept in ("mca", "edu", "nhsa"):
            call(log, day + timedelta(hours=10), dept)
            call(log, day + timedelta(hours=15), dept, outcome="refused" if dept == "edu" else "allowed")
    # the reported day
    call(log, DAY + timedelta(hours=10), "mca")
    call(log, DAY + timedelta(hours=11), "mca", outcome="refused")
    call(log, DAY + timedelta(hours=11, minutes=5), "mca", outcome="refused")  # two: no spike
    for minute in range(12):
        call(log, DAY + timedelta(hours=14, minutes=minute), "edu", outcome="refused")  # spike
    for i in range(90):
        call(log, DAY + timedelta(hours=9, seconds=30 * i), "edu", purpose="risk-monitoring")  # volume
    for minute in (5, 30, 55):
        call(log, DAY + timedelta(hours=23, minutes=minute), "nhsa")  # unusual hours
    call(log, DAY + timedelta(hours=12), "nhsa")
    log.close()
    store = SQLiteAuditStore(tmp_path / "audit.sqlite", read_only=True)
    yield store
    store.close()


def test_counts_by_department_purpose_and_outcome(store):
    report = build_report(store, DAY, DAY + timedelta(days=1))
    counts = {(r.department, r.purpose, r.outcome): r.count for r in report.rows}
    assert counts == {
        ("mca", "eligibility-check", "allowed"): 1,
        ("mca", "eligibility-check", "refused"): 2,
        ("edu", "eligibility-check", "refused"): 12,
        ("edu", "risk-monitoring", "allowed"): 90,
        ("nhsa", "eligibility-check", "allowed"): 4,
    }
    assert report.total == 109


def test_anomalies_are_found_and_quiet_departments_are_not_flagged(store):
    report = build_report(store, DAY, DAY + timedelta(days=1))
    found = {(a.kind, a.department): a for a in report.anomalies}
    assert set(found) == {("refusal-spike", "edu"), ("volume", "edu"), ("unusual-hours", "nhsa")}
    spike = found[("refusal-spike", "edu")]
    assert spike.count == 12 and "hour from 2024-06-10 14:00" in spike.message
    assert found[("volume", "edu")].count == 102
    assert "(2.0 expected" in found[("volume", "edu")].message
    night = found[("unusual-hours", "nhsa")]
    assert night.count == 3 and "from 2024-06-10 23:00 to 2024-06-11 00:00" in night.message


def test_thresholds_are_configurable(store):
    strict = ReportOptions(spike_min=2, spike_factor=1.0, quiet_hours=(23, 7), volume_factor=100.0)
    report = build_report(store, DAY, DAY + timedelta(days=1), strict)
    kinds = {(a.kind, a.department) for a in report.anomalies}
    assert ("refusal-spike", "mca") in kinds and ("volume", "edu") not in kinds
    lenient = ReportOptions(quiet_hours=(0, 6))
    assert not any(
        a.kind == "unusual-hours" for a in build_report(store, DAY, DAY + timedelta(days=1), lenient).anomalies
    )


def test_baseline_days_are_not_counted_in_the_period(store):
    report = build_report(store, DAY - timedelta(days=1), DAY)
    assert report.total == 6 and report.anomalies == []


def test_times_without_offset_are_local_and_empty_periods_are_refused(store):
    assert parse_time("2024-06-10") == DAY
    assert parse_time("2024-06-10T00:00Z") == datetime(2024, 6, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="until .* is not after since"):
        build_report(store, DAY, DAY)
    with pytest.raises(ValueError, match="not an ISO 8601"):
        parse_time("yesterday")
