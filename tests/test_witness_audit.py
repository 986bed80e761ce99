"""Witnessed audit checkpoints, end to end with real processes: the matcher submits each checkpoint
to a witness and stores its cosignature; an officer's `aidlink audit verify` against the witness
catches a rollback (log truncated, newer checkpoints deleted) and a history rewritten and re-signed
with the real audit key, which the signature check alone cannot; a witness that is down does not
stop the log; a log without checkpoints fails; the matcher needs an audit key to start."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry

from aidlink.audit.entry import AuditEntry
from aidlink.audit.log import AuditLog
from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.keys.audit_key import AuditSigningKey, public_key_path
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import matcher_pb2, matcher_pb2_grpc
from aidlink.witness.client import WitnessClient, WitnessConflict, WitnessEndpoint, WitnessRefused
from aidlink.witness.cosignature import WitnessVerifier
from aidlink.witness.key import WitnessKey
from aidlink.witness.server import WitnessServer
from aidlink.witness.service import Witness
from aidlink.witness.state import WitnessState
from tests.support.witness import ROOT, aidlink, cli_env, make_witness, running_witness

ORIGIN = "aidlink.audit/witnessed"
HEADER = "x-aidlink-dev-department"


def entry(method: str) -> AuditEntry:
    return AuditEntry(
        time="2026-01-01T00:00:00.000000Z", method=method, outcome="allowed", status="OK", department="mca"
    )


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@contextmanager
def matcher_process(data_dir: Path, *extra: str) -> Iterator[str]:
    args = [sys.executable, "-m", "aidlink.cli.main", "matcher", "serve", "--insecure-dev"]
    args += ["--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *extra]
    proc = subprocess.Popen(args, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("matcher listening on "):
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                yield line.split()[3].rstrip(",")
                return
        pytest.fail("matcher did not start:\n" + "".join(lines))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def call(address: str, department: str, n: int) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = matcher_pb2_grpc.MatcherStub(channel)
        for _ in range(n):
            stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), metadata=[(HEADER, department)], timeout=10)


def cosigned_sizes(data_dir: Path) -> list[int]:
    store = SQLiteAuditStore(data_dir / "audit.sqlite", read_only=True)
    try:
        sizes = {c.number: c.size for c in store.checkpoints()}
        return sorted(sizes[c.checkpoint] for c in store.cosignatures())
    finally:
        store.close()


def entry_count(data_dir: Path) -> int:
    store = SQLiteAuditStore(data_dir / "audit.sqlite", read_only=True)
    try:
        return store.count()
    finally:
        store.close()


@dataclass
class Witnessed:
    data_dir: Path
    audit_key: Path
    audit_pub: Path
    witness_url: str
    witness_vkey: str
    witness_dir: Path
    first_size: int  # an earlier cosigned checkpoint's size
    size: int  # entries in the log, all cosigned


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory) -> Iterator[Witnessed]:
    root = tmp_path_factory.mktemp("witnessed")
    key_path = root / "audit" / "audit-signing.key"
    AuditSigningKey.create(key_path)
    witness = make_witness(root / "witness")
    with running_witness(witness, [f"{ORIGIN}={public_key_path(key_path)}"]) as server:
        data_dir = root / "matcher"
        flags = ["--audit-key", str(key_path), "--audit-origin", ORIGIN, "--checkpoint-interval", "0.2"]
        flags += ["--witness", server.url, "--witness-key", witness.vkey]
        with matcher_process(data_dir, *flags) as address:
            call(address, "mca", 5)
            first = wait_for(lambda: [s for s in cosigned_sizes(data_dir) if s >= 5], "a first cosignature")[0]
            call(address, "edu", 7)
            wait_for(lambda: entry_count(data_dir) in cosigned_sizes(data_dir), "the newest checkpoint cosigned")
        # stopped: its last checkpoint is submitted at its next start; the witness stays up
        yield Witnessed(
            data_dir, key_path, public_key_path(key_path), server.url, witness.vkey, witness.directory, first,
            max(cosigned_sizes(data_dir)),
        )  # fmt: skip


def verify(w: Witnessed, data_dir: Path, *, witness: bool) -> subprocess.CompletedProcess:
    args = ["audit", "verify", "--data-dir", str(data_dir), "--key", str(w.audit_pub)]
    if witness:
        args += ["--witness", w.witness_url, "--witness-key", w.witness_vkey]
    return aidlink(*args, check=False)


def copy_log(w: Witnessed, target: Path) -> Path:
    target.mkdir()
    source = sqlite3.connect(w.data_dir / "audit.sqlite")
    copy = sqlite3.connect(target / "audit.sqlite")
    source.backup(copy)
    source.close()
    copy.close()
    return target


def test_the_untouched_log_verifies_against_the_witness(witnessed):
    result = verify(witnessed, witnessed.data_dir, witness=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"witness officers.example/witness: cosigned a checkpoint of size {witnessed.size}" in result.stdout
    assert "matches the witnessed checkpoints" in result.stdout


def test_a_rollback_with_newer_checkpoints_deleted_is_caught_through_the_witness(witnessed, tmp_path):
    rolled_back = copy_log(witnessed, tmp_path / "rolled-back")
    keep = witnessed.first_size
    with sqlite3.connect(rolled_back / "audit.sqlite") as db:  # whoever holds the host
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute("DELETE FROM audit_cosignatures")
        db.execute("DELETE FROM audit_entries WHERE seq >= ?", (keep,))
        db.execute("DELETE FROM audit_checkpoints WHERE size > ?", (keep,))
    signature_only = verify(witnessed, rolled_back, witness=False)
    assert signature_only.returncode == 0, signature_only.stdout  # the key alone cannot see it
    result = verify(witnessed, rolled_back, witness=True)
    assert result.returncode == 1
    assert f"cosigned size {witnessed.size}" in result.stdout
    assert f"only {keep} entries are stored: the log was rolled back" in result.stdout


def test_a_history_rewritten_and_resigned_with_the_real_key_is_caught_and_not_cosigned(witnessed, tmp_path):
    original = SQLiteAuditStore(witnessed.data_dir / "audit.sqlite", read_only=True)
    entries = [row.entry for row in original.scan()]
    original.close()
    entries[2] = dataclasses.replace(entries[2], department="forged")
    rewritten = tmp_path / "rewritten"
    rewritten.mkdir()
    log = AuditLog(
        SQLiteAuditStore(rewritten / "audit.sqlite"),
        signing_key=AuditSigningKey.load(witnessed.audit_key),  # the real key, taken from the host
        origin=ORIGIN,
        checkpoint_interval=None,
    )
    for entry in [*entries, dataclasses.replace(entries[-1], department="one-more")]:
        log.append(entry)
    log.checkpoint()
    proof = log._consistency_proof(witnessed.size, log.size)
    note = log.latest_checkpoint().note
    log.close()

    assert verify(witnessed, rewritten, witness=False).returncode == 0  # signed with the real key: "OK"
    result = verify(witnessed, rewritten, witness=True)
    assert result.returncode == 1
    assert f"the first {witnessed.size} stored entries do not match the checkpoint witness" in result.stdout
    assert "history was rewritten" in result.stdout

    client = WitnessClient(WitnessEndpoint(witnessed.witness_url, WitnessVerifier.parse(witnessed.witness_vkey)))
    with pytest.raises(WitnessConflict) as conflict:
        client.add_checkpoint(0, [], note)
    assert conflict.value.size == witnessed.size
    with pytest.raises(WitnessRefused) as refused:
        client.add_checkpoint(witnessed.size, proof, note)
    assert refused.value.status == 422


def test_verify_reports_entries_newer_than_the_last_cosigned_checkpoint(witnessed, tmp_path):
    # A cosigned checkpoint kept by the officer at the first review; the log grew since.
    data_dir = copy_log(witnessed, tmp_path / "kept")
    with sqlite3.connect(data_dir / "audit.sqlite") as db:
        db.execute("DROP TRIGGER audit_cosignatures_no_delete")
        db.execute(
            "DELETE FROM audit_cosignatures WHERE checkpoint IN (SELECT number FROM audit_checkpoints WHERE size > ?)",
            (witnessed.first_size,),
        )
    result = aidlink(
        "audit", "verify", "--data-dir", str(data_dir), "--key", str(witnessed.audit_pub),
        "--witness-key", witnessed.witness_vkey, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert (
        f"entries {witnessed.first_size}..{witnessed.size - 1} are newer than the last checkpoint cosigned "
        f"by every witness (size {witnessed.first_size})" in result.stdout
    )


def test_verify_fails_on_a_log_without_checkpoints(tmp_path):
    log = AuditLog(SQLiteAuditStore(tmp_path / "audit.sqlite"), checkpoint_interval=None)
    log.append(entry("ListDatasets"))
    log.close()
    result = aidlink("audit", "verify", "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "the log has no checkpoint" in result.stdout


def test_a_witness_that_is_down_does_not_stop_the_log_and_is_retried(tmp_path):
    key = AuditSigningKey.generate()
    witness_key = WitnessKey.create(tmp_path / "witness", "officers.example/witness", None)
    state = WitnessState(tmp_path / "witness" / "witness.sqlite")
    server = WitnessServer(Witness(witness_key, [], state))  # binds a port, to be reused below
    port = server.port
    server.stop()
    registry = CollectorRegistry()
    log = AuditLog(
        SQLiteAuditStore(tmp_path / "audit.sqlite"),
        signing_key=key,
        origin=ORIGIN,
        checkpoint_interval=None,
        registry=registry,
        witnesses=[WitnessEndpoint(f"http://127.0.0.1:{port}", witness_key.verifier())],
        witness_retry_interval=0.05,
    )
    try:
        for i in range(3):
            log.append(entry(f"M{i}"))
        log.checkpoint()
        failures = {"witness": "officers.example/witness", "reason": "unreachable"}
        wait_for(
            lambda: (registry.get_sample_value("aidlink_audit_witness_failures_total", failures) or 0) >= 2, "retries"
        )
        assert registry.get_sample_value("aidlink_audit_witness_behind", {"witness": "officers.example/witness"}) == 1
        log.append(entry("still-answering"))
        log.checkpoint()
        verifier = log.verifier()
        assert verifier is not None
        up = WitnessServer(
            Witness(witness_key, [verifier], WitnessState(tmp_path / "witness" / "witness.sqlite")), f"127.0.0.1:{port}"
        ).start()
        try:
            # The submitter stores the cosignature, then sets the gauge: wait for both, or the read
            # can land between the two (seen once in a clean-clone CI run).
            cosigned = {"witness": "officers.example/witness"}
            wait_for(
                lambda: (
                    log.store.cosignatures()
                    and registry.get_sample_value("aidlink_audit_witness_cosigned_size", cosigned) == 4
                ),
                "the cosignature stored and counted once the witness is up",
            )
            sizes = {c.number: c.size for c in log.store.checkpoints()}
            assert [sizes[c.checkpoint] for c in log.store.cosignatures()] == [4]
        finally:
            up.stop()
    finally:
        log.close()


def test_the_matcher_refuses_to_start_without_an_audit_signing_key(tmp_path):
    deployment = LoopbackDeployment(tmp_path / "custody")
    tls = deployment.matcher_tls()
    with pytest.raises(ValueError, match="needs an audit signing key"):
        MatcherServer(MatcherConfig(data_dir=tmp_path / "api", listen="127.0.0.1:0", tls=tls))
    result = aidlink(
        "matcher", "serve", "--tls-dir", str(tls.ca_cert.parent), "--data-dir", str(tmp_path / "cli"),
        "--listen", "127.0.0.1:0", check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs an audit signing key" in result.stderr and "--insecure-dev" in result.stderr
    assert "Traceback" not in result.stderr
    development = MatcherServer(
        MatcherConfig(data_dir=tmp_path / "dev", listen="127.0.0.1:0", insecure_dev=True)
    ).start()  # development only, and warned
    development.stop(grace=1)
    shutil.rmtree(tmp_path / "dev")


def test_the_newest_checkpoint_is_printed_with_its_stored_cosignatures(witnessed):
    from aidlink.audit.verifier_key import read_verifier_key
    from aidlink.witness.cosignature import verify_cosigned_checkpoint

    result = aidlink("audit", "checkpoint", "--data-dir", str(witnessed.data_dir), "--key", str(witnessed.audit_pub))
    log_key = read_verifier_key(str(witnessed.audit_pub)).for_origin(ORIGIN)
    cosigned = verify_cosigned_checkpoint(
        result.stdout.encode(), log_key, [WitnessVerifier.parse(witnessed.witness_vkey)]
    )
    assert cosigned.checkpoint.size == witnessed.size and cosigned.cosignatures[0].witness == "officers.example/witness"
