"""The officers' review console end to end, in a real headless browser (Debian's chromium and
chromium-driver through Selenium), against a real matcher on loopback and its real audit log.

Where the test may install Chromium's AutoSelectCertificateForUrls policy (root, as on CI) the
browser itself presents the officer's certificate from an NSS database under a throwaway HOME
(tests/support/browser_certificates.py), and a browser holding a node's certificate, or none,
is refused. Elsewhere (or with AIDLINK_CONSOLE_BROWSER_PROXY=1) the browser reaches the console
through a loopback proxy doing the mTLS handshake with the officer's or node's certificate
(tests/support/client_cert_proxy.py). Refusals of no certificate, another CA's certificate and
revoked certificates are also shown with Python's ssl client. The "lying console" tests put a
rewriting proxy between browser and console.
Set AIDLINK_CONSOLE_SCREENSHOTS=docs/console to write the screenshots committed there.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from aidlink.audit.log import AuditLog
from aidlink.audit.reader import AuditReader
from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.audit.verifier_key import read_verifier_key
from aidlink.console.app import ConsoleContext
from aidlink.console.cli import start_console
from aidlink.console.officer_auth import ConsoleTls, OfficerAuthenticator
from aidlink.console.server import ConsoleServer
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.keys.audit_key import public_key_path
from aidlink.matcher.revocation import RevocationListFile
from aidlink.v1 import audit_pb2, audit_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from tests.support.browser_certificates import browser_home, installed_policy
from tests.support.client_cert_proxy import ClientCertProxy

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
    ),
]
CALLS = {"mca": 3, "edu": 2, "nhsa": 1}
SCREENSHOTS = os.environ.get("AIDLINK_CONSOLE_SCREENSHOTS")


def _channel(dep: LoopbackDeployment, directory: Path, stem: str) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(
        dep.ca.cert_pem, (directory / f"{stem}.key").read_bytes(), (directory / f"{stem}.crt").read_bytes()
    )
    return grpc.secure_channel(dep.matcher.address, creds)


def _list_datasets(dep: LoopbackDeployment, department: str) -> None:
    with _channel(dep, dep.root / "nodes" / department, "node") as ch:
        matcher_pb2_grpc.MatcherStub(ch).ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=10)


def _node_reads_audit_trail(dep: LoopbackDeployment, department: str) -> None:
    with _channel(dep, dep.root / "nodes" / department, "node") as ch:
        with pytest.raises(grpc.RpcError):
            list(audit_pb2_grpc.AuditTrailStub(ch).Query(audit_pb2.AuditQuery(), timeout=10))


def _browser(download_dir: Path, home: Path | None = None):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir)})
    env = {**os.environ, "HOME": str(home)} if home is not None else None  # its NSS database: client certificates
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER, env=env))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


class Console:
    """One running deployment, its console, proxies for an officer and a node, and a browser."""

    def __init__(self, root: Path, direct: bool) -> None:
        self.root, self.direct = root, direct
        self.dep = LoopbackDeployment(root / "deployment", witness=True).start()
        for department, n in CALLS.items():
            for _ in range(n):
                _list_datasets(self.dep, department)
        _node_reads_audit_trail(self.dep, "edu")  # refused: a node may not read the audit trail
        self.log = self.dep.matcher.core.audit_log
        self.log.checkpoint()
        _list_datasets(self.dep, "edu")
        self.log.checkpoint()
        self.witness_vkey = self.dep.matcher.config.witnesses[0].verifier.vkey()
        self._wait_cosigned()
        self.tls_dir = root / "console-tls"
        self.dep.ca.issue_matcher().write(self.tls_dir, "console")
        (self.tls_dir / "ca.crt").write_bytes(self.dep.ca.cert_pem)
        (self.tls_dir / "crl.pem").write_bytes(self.dep.ca.crl_pem())
        self.officer = self.dep.ca.issue_officer("alice")
        self.officer.write(root / "officer", "officer")
        self.key = read_verifier_key(str(public_key_path(self.dep.audit_key_path)))
        tls = ConsoleTls.in_directory(self.tls_dir)
        context = ConsoleContext(
            reader=AuditReader(self.log.store),
            record=self.log.append,
            authenticate=OfficerAuthenticator(tls.ca_cert.read_bytes(), RevocationListFile(tls.crl)),
            verifier_key=self.key,
            witnesses=(self.witness_vkey,),
        )
        self.server = ConsoleServer(context, tls, "127.0.0.1:0").start()
        self.officer_proxy = self.proxy(root / "officer", "officer")
        self.node_proxy = self.proxy(self.dep.root / "nodes" / "edu", "node")
        self.downloads = root / "downloads"
        self.downloads.mkdir()
        self.officer_home = None
        if direct:  # the browser itself presents the officer's certificate (NSS database + policy)
            self.officer_home = browser_home(
                root / "officer-home",
                self.tls_dir / "ca.crt",
                root / "officer" / "officer.crt",
                root / "officer" / "officer.key",
            )
        self.browser = _browser(self.downloads, self.officer_home)
        self.officer_url = self.server.url if direct else self.officer_proxy.url

    def _wait_cosigned(self, timeout: float = 60.0) -> None:
        """Until the witness has cosigned the newest checkpoint (it does so in the background)."""
        deadline = time.monotonic() + timeout
        latest = self.log.store.latest_checkpoint()
        while not self.log.store.cosignatures_of(latest.number):
            assert time.monotonic() < deadline, f"the witness did not cosign checkpoint {latest.number}"
            time.sleep(0.1)

    def proxy(self, directory: Path, stem: str) -> ClientCertProxy:
        return ClientCertProxy(
            self.server.address, self.tls_dir / "ca.crt", directory / f"{stem}.crt", directory / f"{stem}.key"
        ).start()

    def entries(self):
        return [row.entry for row in self.log.store.scan()]

    def close(self) -> None:
        for part in (self.browser.quit, self.officer_proxy.stop, self.node_proxy.stop, self.server.stop, self.dep.stop):
            try:
                part()
            except Exception:
                pass


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    with installed_policy() as direct:
        direct = direct and not os.environ.get("AIDLINK_CONSOLE_BROWSER_PROXY")  # force the proxy path
        env = Console(tmp_path_factory.mktemp("console"), direct)
        try:
            yield env
        finally:
            env.close()


def test_the_browser_presents_the_officer_certificate_itself_where_it_can(console):
    """Says which way the browser reached the console in this run (see the module docstring)."""
    if not console.direct:
        pytest.skip("no root or no NSS tools: the browser reaches the console through the client-certificate proxy")
    assert console.officer_url.startswith("https://127.0.0.1:")


def _wait_verified(browser, timeout: float = 30.0) -> None:
    WebDriverWait(browser, timeout).until(
        lambda b: (
            b.find_elements(By.CSS_SELECTOR, "body[data-verification-done='true']")
            or b.find_elements(By.CSS_SELECTOR, ".checkpoint.failed")
        )
    )


def _shot(browser, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))


def _raw_request(console: Console, cert: Path | None, key: Path | None, path: str = "/log"):
    context = ssl.create_default_context(cafile=str(console.tls_dir / "ca.crt"))
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    host, port = console.server.address.rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


# -- who may read ----------------------------------------------------------------------------------


def test_no_client_certificate_is_refused_in_the_tls_handshake(console):
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _raw_request(console, None, None)


def test_a_certificate_from_another_ca_is_refused_in_the_handshake(console, tmp_path):
    other = LoopbackDeployment.__new__(LoopbackDeployment)  # only its CA: no servers are started
    from aidlink.keys.authority import CertificateAuthority

    stranger = CertificateAuthority.create(tmp_path / "other-ca").issue_officer("mallory")
    stranger.write(tmp_path, "mallory")
    del other
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _raw_request(console, tmp_path / "mallory.crt", tmp_path / "mallory.key")


def test_a_node_certificate_is_refused_and_the_refusal_is_audited(console, tmp_path):
    node = console.dep.root / "nodes" / "edu"
    if console.direct:  # a browser holding the node's certificate
        home = browser_home(tmp_path / "home", console.tls_dir / "ca.crt", node / "node.crt", node / "node.key")
        browser, url = _browser(tmp_path, home), console.server.url
    else:
        browser, url = console.browser, console.node_proxy.url
    try:
        browser.get(url + "/log")
        assert browser.find_element(By.ID, "problem-title").text == "拒绝访问"
        detail = browser.find_element(By.ID, "problem-detail").text
        assert "aidlink://node/edu" in detail and "node identity" in detail and "security officers" in detail
        _shot(browser, "refused-node-certificate")
    finally:
        if browser is not console.browser:
            browser.quit()
    refusal = [e for e in console.entries() if e.method == "console/log" and e.status == "PERMISSION_DENIED"]
    assert refusal and refusal[-1].outcome == "refused" and "aidlink://node/edu" in refusal[-1].identity


def test_a_browser_without_a_certificate_gets_no_page(console, tmp_path):
    if not console.direct:
        pytest.skip(
            "needs the browser's own certificates; test_no_client_certificate_is_refused_in_the_tls_handshake covers it"
        )
    browser = _browser(tmp_path, browser_home(tmp_path / "home", console.tls_dir / "ca.crt"))
    before = len(console.entries())
    try:
        try:  # Chromium answers the failed handshake with its own error page, or WebDriver raises it
            browser.get(console.server.url + "/log")
        except WebDriverException as exc:
            assert "ERR_BAD_SSL_CLIENT_AUTH_CERT" in str(exc) or "ERR_SSL" in str(exc)
        for element in ("entries", "officer-identity", "problem-title", "filters"):
            assert not browser.find_elements(By.ID, element)
    finally:
        browser.quit()
    assert all(e.method != "console/log" or e.identity for e in console.entries()[before:])


def test_a_revoked_officer_is_refused(console, tmp_path):
    bob = console.dep.ca.issue_officer("bob")
    bob.write(tmp_path, "bob")
    assert _raw_request(console, tmp_path / "bob.crt", tmp_path / "bob.key")[0] == 200
    console.dep.ca.revoke(bob.identity.serial, "key_compromise")
    (console.tls_dir / "crl.pem").write_bytes(console.dep.ca.crl_pem())
    status, body = _raw_request(console, tmp_path / "bob.crt", tmp_path / "bob.key")
    assert status == 403 and "revoked" in body
    last = console.entries()[-1]
    assert last.method == "console/log" and last.status == "UNAUTHENTICATED"


def test_without_a_usable_crl_everyone_is_refused(console):
    crl = console.tls_dir / "crl.pem"
    saved = crl.read_bytes()
    crl.unlink()
    try:
        status, body = _raw_request(
            console, console.root / "officer" / "officer.crt", console.root / "officer" / "officer.key"
        )
        assert status == 503 and "revocation" in body
    finally:
        crl.write_bytes(saved)


# -- what an officer sees --------------------------------------------------------------------------


def test_an_officer_logs_in_and_every_shown_entry_is_verified_in_the_browser(console):
    browser = console.browser
    browser.get(console.officer_url + "/log")
    assert "aidlink://officer/alice" in browser.find_element(By.ID, "officer-identity").text
    _wait_verified(browser)
    cells = browser.find_elements(By.CSS_SELECTOR, "#entries .verification")
    states = {c.get_attribute("data-verification") for c in cells}
    assert "failed" not in states and "verified" in states, browser.find_element(By.ID, "checkpoint-status").text
    # the checkpoint the page verified against (the matcher signs a new one every 10 s while the log grows)
    number = int(browser.find_element(By.ID, "checkpoint-status").get_attribute("data-checkpoint"))
    checkpoint = {cp.number: cp for cp in console.log.store.checkpoints()}[number]
    for cell in cells:
        if cell.get_attribute("data-verification") == "verified":
            assert cell.text == f"已校验：包含于检查点 #{checkpoint.number}（{checkpoint.size} 条）"
    _shot(browser, "log")
    views = [e for e in console.entries() if e.method == "console/log" and "officer/alice" in e.identity]
    assert views and views[-1].outcome == "allowed"
    proofs = [e for e in console.entries() if e.method == "console/api/proofs"]
    assert proofs and proofs[-1].outcome == "allowed"


def test_an_entry_page_shows_every_field_and_verified(console):
    browser = console.browser
    browser.get(console.officer_url + "/entry/0")
    _wait_verified(browser)
    cell = browser.find_element(By.CSS_SELECTOR, "#entry .verification")
    assert cell.get_attribute("data-verification") == "verified"
    verified = json.loads(browser.find_element(By.ID, "verified-body").text)
    assert verified["seq"] == 0 and verified["method"] == console.entries()[0].method
    _shot(browser, "entry")


def test_filters_return_the_right_rows(console):
    browser = console.browser
    entries = console.entries()
    for query, expected in (
        ("department=mca", [i for i, e in enumerate(entries) if e.department == "mca"]),
        ("outcome=refused", [i for i, e in enumerate(console.entries()) if e.outcome == "refused"]),
        (
            "method=ListDatasets&department=edu",
            [i for i, e in enumerate(entries) if e.department == "edu" and e.method.endswith("/ListDatasets")],
        ),
    ):
        browser.get(f"{console.officer_url}/log?{query}&sort=oldest")
        shown = [
            int(r.get_attribute("data-seq")) for r in browser.find_elements(By.CSS_SELECTOR, "#entries tr[data-seq]")
        ]
        assert shown == expected[: len(shown)] and shown, query
    assert len([i for i, e in enumerate(entries) if e.department == "mca"]) == CALLS["mca"]


def test_keyset_paging_walks_the_whole_log_once(console):
    browser = console.browser
    before = len(console.entries())
    browser.get(console.officer_url + "/log")
    seen: list[int] = []
    while True:
        rows = browser.find_elements(By.CSS_SELECTOR, "#entries tr[data-seq]")
        seen += [int(r.get_attribute("data-seq")) for r in rows]
        links = browser.find_elements(By.ID, "next-page")
        if not links:
            break
        browser.get(links[0].get_attribute("href"))
    # newest first, each entry once; the views this walk adds are newer than its first page
    # (the previous page's verification request may still have been recorded after `before`)
    assert seen == list(range(seen[0], -1, -1)) and seen[0] >= before - 1


def test_the_language_switch_shows_english(console):
    browser = console.browser
    browser.get(console.officer_url + "/log?lang=en")
    assert browser.find_element(By.ID, "nav-report").text == "Anomaly report"
    browser.get(console.officer_url + "/log")  # the choice is remembered
    assert browser.find_element(By.ID, "nav-report").text == "Anomaly report"
    browser.get(console.officer_url + "/log?lang=zh")
    assert browser.find_element(By.ID, "nav-report").text == "异常报告"


def test_consistency_between_two_checkpoints_is_checked_in_the_browser(console):
    browser = console.browser
    browser.get(console.officer_url + "/consistency")
    browser.find_element(By.ID, "check-consistency").click()
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.ID, "consistency-result").get_attribute("data-result") not in (None, "", "pending")
    )
    result = browser.find_element(By.ID, "consistency-result")
    assert result.get_attribute("data-result") == "consistent", result.text
    _shot(browser, "consistency")


def test_the_anomaly_report_draws_charts_per_department(console):
    browser = console.browser
    browser.get(console.officer_url + "/report")
    charts = browser.find_elements(By.CSS_SELECTOR, "#charts svg")
    assert len(charts) == 2
    legend = browser.find_element(By.ID, "charts").text
    assert all(f"{d} (" in legend for d in CALLS)
    _shot(browser, "report")


def test_an_exported_bundle_downloads_and_verify_bundle_accepts_it(console):
    browser = console.browser
    browser.get(console.officer_url + "/log?department=mca")
    browser.find_element(By.ID, "export-bundle").click()
    target = console.downloads / "aidlink-audit-bundle.json"
    for _ in range(300):  # the download finishes asynchronously (30 s at most)
        if target.is_file() and target.stat().st_size > 0:
            break
        time.sleep(0.1)
    bundle = json.loads(target.read_text(encoding="utf-8"))
    assert len(bundle["entries"]) == CALLS["mca"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aidlink.cli.main",
            "audit",
            "verify-bundle",
            str(target),
            "--key",
            str(public_key_path(console.dep.audit_key_path)),
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")]),
        },
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: {CALLS['mca']} entries")
    exports = [e for e in console.entries() if e.method == "console/export/bundle"]
    assert exports and exports[-1].counts["entries"] == CALLS["mca"]


def test_siem_exports_are_ocsf_and_cef_lines(console):
    status, body = _raw_request(
        console,
        console.root / "officer" / "officer.crt",
        console.root / "officer" / "officer.key",
        "/export/ocsf?department=edu",
    )
    assert status == 200
    events = [json.loads(line) for line in body.splitlines()]
    assert events and all(e["class_uid"] == 6003 and e["unmapped"]["department"] == "edu" for e in events)
    assert len(events) == len([e for e in console.entries() if e.department == "edu"])
    status, body = _raw_request(
        console, console.root / "officer" / "officer.crt", console.root / "officer" / "officer.key", "/export/ocsf"
    )
    assert {json.loads(line)["status"] for line in body.splitlines()} >= {"Success", "Failure"}
    status, body = _raw_request(
        console,
        console.root / "officer" / "officer.crt",
        console.root / "officer" / "officer.key",
        "/export/cef?department=edu",
    )
    assert status == 200 and all(line.startswith("CEF:0|aidlink|matcher|") for line in body.splitlines())


# -- a log someone altered ------------------------------------------------------------------------


def test_a_tampered_entry_fails_verification_in_the_browser_naming_it(console, tmp_path):
    """A copy of the log whose entry 2 was rewritten by someone with write access to the database
    (the append-only trigger dropped first); the console over it shows entry 2 failing."""
    source = console.log.store.path
    copy = tmp_path / "audit.sqlite"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as db:
        db.execute("DROP TRIGGER audit_entries_no_update")
        body = db.execute("SELECT body FROM audit_entries WHERE seq = 2").fetchone()[0]
        forged = bytes(body).replace(b'"mca"', b'"edu"')
        assert forged != bytes(body)
        db.execute("UPDATE audit_entries SET body = ?, department = 'edu' WHERE seq = 2", (forged,))
    log = AuditLog(SQLiteAuditStore(copy), checkpoint_interval=None)
    server = start_console(log, console.key, console.tls_dir, "127.0.0.1:0")
    proxy = ClientCertProxy(
        server.address,
        console.tls_dir / "ca.crt",
        console.root / "officer" / "officer.crt",
        console.root / "officer" / "officer.key",
    ).start()
    try:
        browser = console.browser
        browser.get(proxy.url + "/log?sort=oldest&lang=en")
        _wait_verified(browser)
        failed = browser.find_elements(By.CSS_SELECTOR, "#entries .verification[data-verification='failed']")
        assert [c.find_element(By.XPATH, "..").get_attribute("data-seq") for c in failed] == ["2"]
        assert failed[0].text.startswith("FAILED: entry 2: its stored content does not hash to the leaf")
        _shot(browser, "tampered-entry")
        browser.get(proxy.url + "/entry/2")
        _wait_verified(browser)
        cell = browser.find_element(By.CSS_SELECTOR, "#entry .verification")
        assert cell.get_attribute("data-verification") == "failed" and "entry 2" in cell.text
        browser.get(proxy.url + "/log?lang=zh")
    finally:
        proxy.stop()
        server.stop()
        log.close()


def _lying_console(console: Console, rewrite) -> ClientCertProxy:
    officer = console.root / "officer"
    return ClientCertProxy(
        console.server.address, console.tls_dir / "ca.crt", officer / "officer.crt", officer / "officer.key", rewrite
    ).start()


def test_a_forged_inclusion_proof_fails_verification_naming_the_entry(console):
    """A console that serves a wrong proof hash for entry 3: the browser names entry 3."""

    def forge(path: str, body: bytes) -> bytes:
        if not path.startswith("/api/proofs"):
            return body
        data = json.loads(body)
        for item in data["entries"]:
            if item["seq"] == 3:
                item["proof"][0] = base64.b64encode(b"\x00" * 32).decode()
        return json.dumps(data).encode()

    proxy = _lying_console(console, forge)
    try:
        console.browser.get(proxy.url + "/log?sort=oldest&lang=en")
        _wait_verified(console.browser)
        failed = console.browser.find_elements(By.CSS_SELECTOR, "#entries .verification[data-verification='failed']")
        assert [c.find_element(By.XPATH, "..").get_attribute("data-seq") for c in failed] == ["3"]
        assert failed[0].text.startswith("FAILED: entry 3: its inclusion proof does not lead to the root of checkpoint")
    finally:
        proxy.stop()


def _status_through(console: Console, forge) -> tuple[str, str | None, list[str]]:
    """The checkpoint status line, its witnessed flag and the entries' verification states, as the
    browser shows them through a console that rewrites its answers with `forge`."""
    proxy = _lying_console(console, forge)
    try:
        console.browser.get(proxy.url + "/log?sort=oldest&lang=en&until=2030-01-01")
        _wait_verified(console.browser)
        status = console.browser.find_element(By.ID, "checkpoint-status")
        cells = console.browser.find_elements(By.CSS_SELECTOR, "#entries .verification")
        return (
            status.text,
            status.get_attribute("data-witnessed"),
            [c.get_attribute("data-verification") for c in cells],
        )
    finally:
        proxy.stop()


def test_the_witness_cosignature_is_verified_in_the_browser(console):
    text, witnessed, states = _status_through(console, lambda path, body: body)
    assert "cosigned by witness witness.loopback at 20" in text and witnessed == "all"
    assert states and "failed" not in states


def test_a_forged_cosignature_fails_naming_the_witness(console):
    """A console (or host) serving a cosignature the witness never made: every entry fails."""

    def forge(path: str, body: bytes) -> bytes:
        if not path.startswith("/api/proofs"):
            return body
        data = json.loads(body)
        name, encoded = data["checkpoint"]["cosignatures"][0][2:].split(" ")
        raw = bytearray(base64.b64decode(encoded))
        raw[-1] ^= 1  # one bit of the Ed25519 signature
        data["checkpoint"]["cosignatures"][0] = f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}"
        return json.dumps(data).encode()

    text, _, states = _status_through(console, forge)
    assert text.startswith("checkpoint does not verify: the cosignature by witness witness.loopback does not verify")
    assert states and set(states) == {"failed"}


def test_a_checkpoint_the_witness_did_not_cosign_is_flagged(console):
    def strip(path: str, body: bytes) -> bytes:
        if not path.startswith("/api/proofs"):
            return body
        data = json.loads(body)
        data["checkpoint"]["cosignatures"] = []
        return json.dumps(data).encode()

    text, witnessed, _ = _status_through(console, strip)
    assert "NOT cosigned by witness witness.loopback" in text and witnessed == "missing"


def test_a_page_showing_other_than_the_verified_record_fails(console):
    """A console whose page says entry 0 came from edu while the logged record says mca."""

    def forge(path: str, body: bytes) -> bytes:
        if path.startswith("/entry/0"):
            return body.replace(b'data-field="department">mca<', b'data-field="department">edu<')
        return body

    proxy = _lying_console(console, forge)
    try:
        console.browser.get(proxy.url + "/entry/0?lang=en")
        _wait_verified(console.browser)
        cell = console.browser.find_element(By.CSS_SELECTOR, "#entry .verification")
        assert cell.get_attribute("data-verification") == "failed"
        assert cell.text == "FAILED: entry 0: the page shows a department the verified record does not hold"
    finally:
        proxy.stop()
        console.browser.get(console.officer_url + "/log?lang=zh")


def test_a_checkpoint_signed_by_another_key_fails_every_entry(console):
    """A console that serves a checkpoint note re-signed by a key the officer does not trust."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from aidlink.audit.checkpoint import Checkpoint, sign_checkpoint
    from aidlink.audit.log import unverified_checkpoint

    def forge(path: str, body: bytes) -> bytes:
        if not path.startswith("/api/proofs"):
            return body
        data = json.loads(body)
        real = unverified_checkpoint(data["checkpoint"]["note"].encode())
        fake = sign_checkpoint(Checkpoint(real.origin, real.size, real.root), real.origin, Ed25519PrivateKey.generate())
        data["checkpoint"]["note"] = fake.decode()
        return json.dumps(data).encode()

    proxy = _lying_console(console, forge)
    try:
        console.browser.get(proxy.url + "/log?lang=en")
        _wait_verified(console.browser)
        status = console.browser.find_element(By.ID, "checkpoint-status").text
        assert status.startswith("checkpoint does not verify:"), status
        cells = console.browser.find_elements(By.CSS_SELECTOR, "#entries .verification")
        assert {c.get_attribute("data-verification") for c in cells} == {"failed"}
    finally:
        proxy.stop()
        console.browser.get(console.officer_url + "/log?lang=zh")


def test_a_console_serving_another_verifier_key_fails_against_the_pinned_key(console):
    """The browser pinned the audit key on first use; a console that later serves its own key
    (with checkpoints it signed itself) fails every check, naming the pinned key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from aidlink.audit.checkpoint import Checkpoint, sign_checkpoint
    from aidlink.audit.log import unverified_checkpoint
    from aidlink.audit.note import NoteVerifier

    browser, proxy = console.browser, console.officer_proxy
    browser.get(proxy.url + "/log")  # the proxy's origin: the key is pinned there
    _wait_verified(browser)
    pinned = browser.find_element(By.ID, "pinned-key").text
    assert pinned == browser.find_element(By.ID, "verifier-key").text
    own = Ed25519PrivateKey.generate()

    def forge(path: str, body: bytes) -> bytes:
        real = console.log.store.latest_checkpoint()
        origin = unverified_checkpoint(real.note).origin
        own_vkey = NoteVerifier.from_public_key(origin, own.public_key()).vkey()
        body = body.replace(pinned.encode(), own_vkey.encode())
        if path.startswith("/api/proofs"):
            data = json.loads(body)
            cp = unverified_checkpoint(data["checkpoint"]["note"].encode())
            data["checkpoint"]["note"] = sign_checkpoint(Checkpoint(cp.origin, cp.size, cp.root), origin, own).decode()
            body = json.dumps(data).encode()
        return body

    proxy.rewrite = forge
    try:
        browser.get(proxy.url + "/log?lang=en")
        _wait_verified(browser)
        status = browser.find_element(By.ID, "checkpoint-status").text
        assert status.startswith("checkpoint does not verify: the console now serves an audit verifier key other than")
        assert pinned in status
    finally:
        proxy.rewrite = None
        browser.get(proxy.url + "/log?lang=zh")


def test_a_forged_consistency_proof_is_shown_inconsistent(console):
    browser, proxy = console.browser, console.officer_proxy

    def forge(path: str, body: bytes) -> bytes:
        if not path.startswith("/api/consistency"):
            return body
        data = json.loads(body)
        data["proof"][-1] = base64.b64encode(b"\xff" * 32).decode()
        return json.dumps(data).encode()

    proxy.rewrite = forge
    try:
        browser.get(proxy.url + "/consistency?lang=en")
        browser.find_element(By.ID, "check-consistency").click()
        WebDriverWait(browser, 30).until(
            lambda b: (
                b.find_element(By.ID, "consistency-result").get_attribute("data-result") not in (None, "", "pending")
            )
        )
        result = browser.find_element(By.ID, "consistency-result")
        assert result.get_attribute("data-result") == "inconsistent"
        assert re.fullmatch(
            r"INCONSISTENT: the consistency proof between checkpoints #1 and #\d+ does not hold", result.text
        )
    finally:
        proxy.rewrite = None
        browser.get(proxy.url + "/log?lang=zh")
