"""`aidlink console serve` and `aidlink matcher serve --console-listen` as processes: they serve
officers over mTLS, record each view in the log they serve, stop on SIGTERM, and refuse to start
with a one-line message when something they need is missing."""

from __future__ import annotations

import http.client
import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.keys.audit_key import public_key_path

SRC = Path(__file__).parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def _aidlink(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aidlink.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def _get(url: str, ca: Path, cert: Path, key: Path, path: str = "/log") -> tuple[int, str]:
    host, port = re.match(r"https://([\d.]+):(\d+)", url).groups()
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    context.load_cert_chain(str(cert), str(key))
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def custody(tmp_path):
    dep = LoopbackDeployment(tmp_path)  # keys only: no server is started
    tls = dep.matcher_tls()
    officer = dep.ca.issue_officer("carol")
    officer.write(tmp_path / "officer", "officer")
    return dep, tls, tmp_path / "officer"


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.stderr.read()


@pytest.mark.slow
def test_matcher_serve_hosts_the_console_on_its_own_log(custody, tmp_path):
    dep, tls, officer = custody
    data = tmp_path / "data"
    process = _aidlink(
        "matcher", "serve", "--tls-dir", str(tls.ca_cert.parent), "--data-dir", str(data),
        "--audit-key", str(dep.audit_key_path), "--listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0",
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        url = re.search(r"review console on (https://\S+)", line)
        assert url, line + process.stderr.read() if process.poll() is not None else line
        status, body = _get(url.group(1), tls.ca_cert, officer / "officer.crt", officer / "officer.key")
        assert status == 200 and "aidlink://officer/carol" in body
    finally:
        _stop(process)
    store = SQLiteAuditStore(data / "audit.sqlite", read_only=True)
    try:
        entries = [row.entry for row in store.scan()]
        latest = store.latest_checkpoint()
    finally:
        store.close()
    assert [e.method for e in entries if "officer/carol" in e.identity][:1] == ["console/log"]
    assert latest is not None and latest.size == len(entries)  # signed at SIGTERM, the console's view included


@pytest.mark.slow
def test_console_serve_over_a_stopped_matchers_log(custody, tmp_path):
    dep, tls, officer = custody
    console_tls = tls.ca_cert.parent
    dep.ca.issue_matcher().write(console_tls, "console")
    process = _aidlink(
        "console", "serve", "--tls-dir", str(console_tls), "--data-dir", str(tmp_path / "data"),
        "--verifier-key", str(public_key_path(dep.audit_key_path)), "--listen", "127.0.0.1:0",
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        url = re.search(r"console listening on (https://\S+)", line)
        assert url, line
        status, _ = _get(url.group(1), tls.ca_cert, officer / "officer.crt", officer / "officer.key")
        assert status == 200
    finally:
        _stop(process)
    assert process.returncode == 0


def test_console_serve_without_its_files_says_what_is_missing(custody, tmp_path):
    dep, tls, _ = custody
    done = subprocess.run(
        [sys.executable, "-m", "aidlink.cli.main", "console", "serve", "--tls-dir", str(tmp_path / "nowhere"),
         "--data-dir", str(tmp_path / "data"), "--verifier-key", str(public_key_path(dep.audit_key_path))],
        capture_output=True, text=True, env=ENV, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"aidlink console serve: the console's TLS directory has no ca.crt ({tmp_path / 'nowhere'})"
    ]
    done = subprocess.run(
        [sys.executable, "-m", "aidlink.cli.main", "matcher", "serve", "--tls-dir", str(tls.ca_cert.parent),
         "--data-dir", str(tmp_path / "data2"), "--listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0"],
        capture_output=True, text=True, env=ENV, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    # A matcher without an audit key does not start at all (docs/witness.md), console or not.
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "aidlink matcher serve: the matcher needs an audit signing key to sign its audit log's checkpoints: "
            "pass --audit-key"
        )
    )
