"""The matcher with its audit log on PostgreSQL (--database-url / AIDLINK_DATABASE_URL).

A matcher killed with SIGKILL and restarted on the same database loses no answered
call, and the log verifies across the restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from aidlink.audit.open_store import open_audit_store
from aidlink.audit.verify import verify_log
from aidlink.cli.main import main
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import matcher_pb2, matcher_pb2_grpc
from tests.support.postgres import postgres_unreachable, scratch_schema

ROOT = Path(__file__).resolve().parents[1]
HEADER = "x-aidlink-dev-department"
_UNREACHABLE = postgres_unreachable()


@pytest.fixture
def pg_url():
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    with scratch_schema() as url:
        yield url


def audited_departments(url: str) -> list[str]:
    store = open_audit_store(url, read_only=True)
    try:
        rows = list(store.scan())
        assert [r.seq for r in rows] == list(range(len(rows)))
        result = verify_log(store, [])
        assert result.ok, result.problems
        return [r.entry.department for r in rows]
    finally:
        store.close()


def test_matcher_config_database_url_puts_the_audit_log_in_postgresql(pg_url, tmp_path, audit_key_file):
    server = MatcherServer(
        MatcherConfig(
            data_dir=tmp_path,
            listen="127.0.0.1:0",
            insecure_dev=True,
            database_url=pg_url,
            checkpoint_interval=0,
            audit_key=audit_key_file,
        )
    ).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            matcher_pb2_grpc.MatcherStub(channel).ListDatasets(
                matcher_pb2.ListDatasetsRequest(), metadata=[(HEADER, "mca")], timeout=10
            )
    finally:
        server.stop(grace=1)
    assert audited_departments(pg_url) == ["mca"]
    assert not (tmp_path / "audit.sqlite").exists()


def test_serve_reports_an_unusable_database_url(tmp_path, capsys, monkeypatch):
    argv = ["matcher", "serve", "--insecure-dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)]
    assert main(argv + ["--database-url", "mysql://db/aidlink"]) == 2
    assert "scheme 'mysql' is not supported" in capsys.readouterr().err
    monkeypatch.setenv("AIDLINK_DATABASE_URL", "postgresql://aidlink:pw@127.0.0.1:1/aidlink")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL at postgresql://aidlink:***@127.0.0.1:1/aidlink" in err
    assert ":pw@" not in err


def start_matcher(data_dir: Path, env: dict[str, str], *flags: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), str(ROOT / "proto")]), **env)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aidlink.cli.main",
            "matcher",
            "serve",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
            "--insecure-dev",
            *flags,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:  # the server prints its address once it listens
        lines.append(line)
        if line.startswith("matcher listening on "):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining
            return proc, line.split()[3].rstrip(",")
    proc.wait()
    pytest.fail("matcher did not start:\n" + "".join(lines))


def call_until(address: str, prefix: str, answered: list[str], stop: threading.Event, clients: int = 4) -> list:
    lock = threading.Lock()

    def client(k: int) -> None:
        with grpc.insecure_channel(address) as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            for i in range(100000):
                if stop.is_set():
                    return
                call_id = f"{prefix}-{k}-{i}"  # dev mode records the header as the department
                try:
                    stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), metadata=[(HEADER, call_id)], timeout=5)
                except grpc.RpcError as err:
                    if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        return  # the server died before answering: not an answered call
                with lock:
                    answered.append(call_id)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    return threads


@pytest.mark.slow
def test_matcher_killed_and_restarted_on_the_same_database_loses_no_answered_call(pg_url, tmp_path, audit_key_file):
    key = ("--audit-key", str(audit_key_file))
    proc, address = start_matcher(tmp_path / "first", {"AIDLINK_DATABASE_URL": pg_url}, *key)
    answered: list[str] = []
    stop = threading.Event()
    threads = call_until(address, "before", answered, stop)
    while len(answered) < 200:
        if proc.poll() is not None:
            pytest.fail("matcher exited on its own")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    killed_at = len(answered)

    # A new pod: empty data directory, same database, URL given by flag this time.
    proc, address = start_matcher(tmp_path / "second", {}, "--database-url", pg_url, *key)
    stop = threading.Event()
    threads = call_until(address, "after", answered, stop, clients=2)
    while len(answered) < killed_at + 50:
        if proc.poll() is not None:
            pytest.fail("restarted matcher exited on its own")
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0

    audited = audited_departments(pg_url)
    assert set(answered) <= set(audited)
    first_after = min(i for i, d in enumerate(audited) if d.startswith("after-"))
    assert all(d.startswith("before-") for d in audited[:first_after])  # restart continued the same log
