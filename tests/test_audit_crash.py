"""Crash test: SIGKILL the matcher while clients call it; every answered call is in the log."""

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

from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.audit.verifier_key import read_verifier_key
from aidlink.audit.verify import verify_log
from aidlink.keys.audit_key import AuditSigningKey, public_key_path
from aidlink.v1 import matcher_pb2, matcher_pb2_grpc
from aidlink.witness.client import WitnessClient, WitnessEndpoint
from aidlink.witness.cosignature import WitnessVerifier
from tests.support.witness import make_witness, running_witness

ROOT = Path(__file__).resolve().parents[1]
HEADER = "x-aidlink-dev-department"
ORIGIN = "aidlink.audit/crash"

pytestmark = pytest.mark.slow


OUTPUT: dict[int, list[str]] = {}  # what each matcher started here printed, by pid
STOP_SECONDS = 30  # a graceful stop takes about a second (one that never came: aidlink.cli.termination)


def stop_matcher(proc: subprocess.Popen) -> None:
    """SIGTERM, as an orchestrator stops it; a matcher that does not stop is killed (never left
    listening) and the test fails with the end of what it printed."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        tail = "".join(OUTPUT.get(proc.pid, [])[-40:])
        pytest.fail(f"the matcher did not stop within {STOP_SECONDS} s of SIGTERM; it printed:\n{tail}")


def start_matcher(data_dir: Path, *witnessing: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), str(ROOT / "proto")]))
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
            *witnessing,
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
            address = line.split()[3].rstrip(",")
            # keep draining (a full pipe would block its logging), and keep what it says for a failure
            threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
            OUTPUT[proc.pid] = lines
            return proc, address
    proc.wait()
    pytest.fail("matcher did not start:\n" + "".join(lines))


def test_sigkill_loses_no_answered_call(tmp_path):
    """With a signing key and a witness configured: checkpoints are signed and cosigned while the
    matcher is under load and killed; the log, its checkpoints and the witness's view still agree."""
    key_path = tmp_path / "audit" / "audit-signing.key"
    AuditSigningKey.create(key_path)
    witness = make_witness(tmp_path / "witness")
    with running_witness(witness, [f"{ORIGIN}={public_key_path(key_path)}"]) as server:
        flags = ("--audit-key", str(key_path), "--audit-origin", ORIGIN, "--checkpoint-interval", "0.2")
        flags += ("--witness", server.url, "--witness-key", witness.vkey)
        _crash_and_restart(tmp_path / "data", flags, server.url, witness.vkey, key_path)


def _crash_and_restart(tmp_path: Path, flags: tuple[str, ...], witness_url: str, witness_vkey: str, key_path: Path):
    keys = [read_verifier_key(str(public_key_path(key_path)))]
    witnesses = [WitnessVerifier.parse(witness_vkey)]

    def witnessed_view() -> list[bytes]:
        return [WitnessClient(WitnessEndpoint(witness_url, witnesses[0])).latest(ORIGIN)]

    proc, address = start_matcher(tmp_path, *flags)
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        with grpc.insecure_channel(address) as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            for i in range(100000):
                if stop.is_set():
                    return
                call_id = f"crash-{k}-{i}"  # dev mode records the header as the caller's department
                try:
                    stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), metadata=[(HEADER, call_id)], timeout=5)
                except grpc.RpcError as err:
                    if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        return  # the server died before answering: not an answered call
                    # any other status is an answer (a refusal), which must be audited too
                with lock:
                    answered.append(call_id)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    while True:  # kill it mid-way, once a good number of calls were answered
        with lock:
            if len(answered) >= 300:
                break
        if proc.poll() is not None:
            pytest.fail("matcher exited on its own")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()

    store = SQLiteAuditStore(tmp_path / "audit.sqlite", read_only=True)
    logged = {row.entry.department for row in store.scan()}
    result = verify_log(store, keys, witness_keys=witnesses, cosigned_checkpoints=witnessed_view())
    store.close()
    missing = [c for c in answered if c not in logged]
    assert not missing, f"{len(missing)} answered calls are not in the audit log, e.g. {missing[:5]}"
    assert result.ok, result.problems

    # The matcher restarts over the log it left and keeps appending to it.
    proc, address = start_matcher(tmp_path, *flags)
    try:
        with grpc.insecure_channel(address) as channel:
            matcher_pb2_grpc.MatcherStub(channel).ListDatasets(
                matcher_pb2.ListDatasetsRequest(), metadata=[(HEADER, "after-restart")], timeout=10
            )
    finally:
        stop_matcher(proc)
    store = SQLiteAuditStore(tmp_path / "audit.sqlite", read_only=True)
    try:
        rows = list(store.scan())
        assert rows[-1].entry.department == "after-restart"
        final = verify_log(store, keys, witness_keys=witnesses, cosigned_checkpoints=witnessed_view())
        assert final.ok, final.problems
    finally:
        store.close()
