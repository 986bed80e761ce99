"""The console's application without a browser: keyset paging over SQLite and PostgreSQL,
escaping of what callers wrote, OCSF and CEF lines, and that a view the log cannot record is
refused. The application is driven through its WSGI interface with the officer certificate in
the environ, as cheroot passes it after the TLS handshake (the browser tests cover TLS)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from aidlink.audit.entry import AuditEntry
from aidlink.audit.log import AuditLog
from aidlink.audit.open_store import open_audit_store
from aidlink.audit.reader import AuditReader
from aidlink.audit.store import StoredEntry
from aidlink.audit.verifier_key import VerifierKey
from aidlink.console.app import ConsoleApp, ConsoleContext
from aidlink.console.officer_auth import OfficerAuthenticator
from aidlink.console.siem_export import cef_line, ocsf_event
from aidlink.database.url import sqlite_url
from aidlink.keys.audit_key import AuditSigningKey
from aidlink.keys.authority import CertificateAuthority
from tests.support.postgres import postgres_unreachable, scratch_schema

_UNREACHABLE = postgres_unreachable()
HOSTILE = "x\u202eevil\x1b[31m\nforged line"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "audit.sqlite")
        return
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    with scratch_schema() as url:
        yield url


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority.create(tmp_path / "ca")


def _entry(i: int, time: str, department: str = "edu", detail: str = "") -> AuditEntry:
    return AuditEntry(
        time=time,
        method="/aidlink.v1.Matcher/CompareDatasets",
        outcome="refused" if i % 3 == 0 else "allowed",
        status="PERMISSION_DENIED" if i % 3 == 0 else "OK",
        department=department,
        identity=f"aidlink://node/{department}/province/320000 serial=0x{i:x}",
        purpose="eligibility-check",
        datasets=(f"{department}/students",),
        detail=detail,
    )


class Client:
    def __init__(self, log: AuditLog, ca: CertificateAuthority, cert_pem: bytes, record=None, crl=None) -> None:
        crl = crl or ca.crl_pem()
        key = VerifierKey(AuditSigningKey.generate().public_key(), "aidlink.audit")
        context = ConsoleContext(
            AuditReader(log.store), record or log.append, OfficerAuthenticator(ca.cert_pem, lambda: crl), key
        )
        self.client = ConsoleApp(context).flask.test_client()
        self.environ = {"SSL_CLIENT_CERT": cert_pem.decode(), "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "9"}

    def get(self, url: str):
        return self.client.get(url, environ_base=self.environ)

    def seqs(self, url: str) -> tuple[list[int], str | None]:
        html = self.get(url).get_data(as_text=True)
        import re

        seqs = [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]
        nxt = re.search(r'id="next-page" href="([^"]+)"', html)
        return seqs, (nxt.group(1).replace("&amp;", "&") if nxt else None)


def test_sorting_by_any_recorded_field_pages_every_entry_once(store_url, ca, monkeypatch):
    """Sorted by a field (department, method, outcome, ...) then time and seq, ascending or
    descending, with or without a filter: every matching entry once, in that order."""
    import aidlink.console.app as app_module

    monkeypatch.setattr(app_module, "PAGE_SIZE", 4)
    log = AuditLog(open_audit_store(store_url), checkpoint_interval=None)
    try:
        departments = ["mca", "edu", "nhsa", "edu", "hrss", "mca", "edu", "cdpf", "nhsa", "edu", "mca", "hrss", "edu"]
        times = [f"2026-01-01T00:00:{(7 * i) % 13:02d}.000000Z" for i in range(len(departments))]
        outcomes = ["refused" if i % 3 == 0 else "allowed" for i in range(len(departments))]
        for i, (t, d) in enumerate(zip(times, departments)):
            log.append(replace(_entry(i, t, department=d), outcome=outcomes[i]))
        client = Client(log, ca, ca.issue_officer("alice").cert_pem)

        def walk(query: str) -> list[int]:
            seen: list[int] = []
            url: str | None = f"/log?until=2026-01-01T09:00&{query}"  # not the console's own views
            while url is not None:
                page, url = client.seqs(url)
                assert len(page) <= 4
                seen += page
            return seen

        def key(field_values, i):
            return (field_values[i], times[i], i)

        everyone = range(len(departments))
        for field, values in (("department", departments), ("outcome", outcomes)):
            ascending = sorted(everyone, key=lambda i, v=values: key(v, i))
            assert walk(f"order={field}&sort=oldest") == ascending, field
            assert walk(f"order={field}") == list(reversed(ascending)), field
        edu_by_outcome = [i for i in sorted(everyone, key=lambda i: key(outcomes, i)) if departments[i] == "edu"]
        assert walk("order=outcome&sort=oldest&department=edu") == edu_by_outcome
        assert client.get("/log?order=body").status_code == 400  # not a recorded field one may sort by
    finally:
        log.close()


def test_keyset_paging_visits_every_matching_entry_once_in_time_order(store_url, ca, monkeypatch):
    """Entries with equal times and times out of seq order (concurrent callers) still page
    exactly once each, in (time, seq) order."""
    import aidlink.console.app as app_module

    monkeypatch.setattr(app_module, "PAGE_SIZE", 3)
    log = AuditLog(open_audit_store(store_url), checkpoint_interval=None)
    try:
        times = [f"2026-01-01T00:00:0{t}.000000Z" for t in (1, 1, 1, 3, 2, 2, 5, 4, 4, 4, 6)]
        for i, t in enumerate(times):
            log.append(_entry(i, t, department="edu" if i % 2 else "mca"))
        officer = ca.issue_officer("alice")
        client = Client(log, ca, officer.cert_pem)
        expected_all = [seq for seq, _ in sorted(enumerate(times), key=lambda p: (p[1], p[0]), reverse=True)]
        for query, expected in (
            ("", expected_all),
            ("department=edu", [s for s in expected_all if s % 2]),
            ("sort=oldest", list(reversed(expected_all))),
            ("department=mca&sort=oldest", [s for s in reversed(expected_all) if s % 2 == 0]),
        ):
            seen: list[int] = []
            url: str | None = f"/log?until=2026-01-01T09:00&{query}"  # not the console's own views
            while url is not None:
                page, url = client.seqs(url)
                assert len(page) <= 3
                seen += page
            assert seen == expected, query
    finally:
        log.close()


def test_what_callers_wrote_is_escaped_on_every_page(tmp_path, ca):
    log = AuditLog(open_audit_store(sqlite_url(tmp_path / "audit.sqlite")), checkpoint_interval=None)
    try:
        log.append(_entry(1, "2026-01-01T00:00:00.000000Z", detail=HOSTILE))
        client = Client(log, ca, ca.issue_officer("alice").cert_pem)
        for url in ("/log", "/entry/0"):
            html = client.get(url).get_data(as_text=True)
            assert "\u202e" not in html and "\x1b" not in html
        assert "x\\u202eevil\\u001b[31m\\u000aforged line" in client.get("/entry/0").get_data(as_text=True)
        cef = client.get("/export/cef?department=edu").get_data(as_text=True)
        assert len(cef.splitlines()) == 1 and "\u202e" not in cef
        ocsf = client.get("/export/ocsf?department=edu").get_data(as_text=True)
        assert len(ocsf.splitlines()) == 1 and "\u202e" not in json.loads(ocsf)["status_detail"]
    finally:
        log.close()


def test_a_view_the_log_cannot_record_is_not_shown(tmp_path, ca):
    log = AuditLog(open_audit_store(sqlite_url(tmp_path / "audit.sqlite")), checkpoint_interval=None)
    try:
        log.append(_entry(1, "2026-01-01T00:00:00.000000Z", detail="secret-looking detail"))

        def broken(entry: AuditEntry) -> int:
            raise RuntimeError("disk full")

        client = Client(log, ca, ca.issue_officer("alice").cert_pem, record=broken)
        response = client.get("/entry/0")
        assert response.status_code == 503
        body = response.get_data(as_text=True)
        assert "cannot record this view: disk full" in body and "secret-looking detail" not in body
    finally:
        log.close()


def test_bad_parameters_are_refused_naming_them_and_audited(tmp_path, ca):
    log = AuditLog(open_audit_store(sqlite_url(tmp_path / "audit.sqlite")), checkpoint_interval=None)
    try:
        client = Client(log, ca, ca.issue_officer("alice").cert_pem)
        response = client.get("/log?since=yesterday")
        assert (
            response.status_code == 400
            and "since: time &#39;yesterday&#39; is not an ISO 8601" in response.get_data(as_text=True)
        )
        response = client.get("/api/proofs?seq=-1")
        assert response.status_code == 400 and "seq must be a non-negative whole number" in response.json["error"]
        last = [row.entry for row in log.store.scan()][-1]
        assert last.method == "console/api/proofs" and last.status == "INVALID_ARGUMENT"
    finally:
        log.close()


def test_ocsf_and_cef_carry_the_entry_fields():
    row = StoredEntry.of(7, _entry(3, "2026-01-01T00:00:00.000000Z", detail="a=b|c"))
    event = ocsf_event(row)
    assert event["class_uid"] == 6003 and event["type_uid"] == 600399 and event["time"] == 1767225600000
    assert event["status"] == "Failure" and event["status_code"] == "PERMISSION_DENIED"
    assert event["api"] == {"operation": "CompareDatasets", "service": {"name": "aidlink.v1.Matcher"}}
    assert event["metadata"]["uid"] == "7" and event["unmapped"]["department"] == "edu"
    line = cef_line(row)
    assert line.startswith("CEF:0|aidlink|matcher|0.1.0|/aidlink.v1.Matcher/CompareDatasets|CompareDatasets refused|5|")
    assert "msg=a\\=b|c" in line and "cn1=7" in line and "cs1=edu" in line and line.endswith("\n")


def test_a_matcher_certificate_is_refused_naming_its_kind(tmp_path, ca):
    log = AuditLog(open_audit_store(sqlite_url(tmp_path / "audit.sqlite")), checkpoint_interval=None)
    try:
        response = Client(log, ca, ca.issue_matcher().cert_pem).get("/log")
        assert response.status_code == 403
        assert "is a matcher identity; the review console is for security officers" in response.get_data(as_text=True)
        last = [row.entry for row in log.store.scan()][-1]
        assert last.status == "PERMISSION_DENIED" and last.identity.startswith("aidlink://matcher")
    finally:
        log.close()


def test_an_expired_crl_refuses_every_officer(tmp_path, ca):
    from datetime import UTC, datetime, timedelta

    log = AuditLog(open_audit_store(sqlite_url(tmp_path / "audit.sqlite")), checkpoint_interval=None)
    try:
        stale = ca.crl_pem(next_update_days=1, now=datetime.now(UTC) - timedelta(days=3))
        response = Client(log, ca, ca.issue_officer("alice").cert_pem, crl=stale).get("/log")
        assert response.status_code == 503
        assert "the certificate revocation list (crl.pem) expired at" in response.get_data(as_text=True)
        assert [row.entry for row in log.store.scan()][-1].status == "UNAVAILABLE"
    finally:
        log.close()
