"""The plaintext health port binds no wider than the API: `aidlink matcher serve --health-port`
binds `--listen`'s host unless `--health-address` says otherwise (the Helm chart says 0.0.0.0).
Run as a real process; the whole of 127.0.0.0/8 is this machine, so a port bound to 127.0.0.1
alone is not reachable at 127.0.0.2, while one bound to 0.0.0.0 is."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path, *flags: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "aidlink.cli.main", "matcher", "serve", "--insecure-dev", "--data-dir", str(data_dir)]
        + list(flags),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:  # the server prints its address once it listens
        lines.append(line)
        if line.startswith("matcher listening on "):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining
            return proc
    proc.wait()
    pytest.fail("matcher did not start:\n" + "".join(lines))


def health(address: str) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        try:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as err:
            return err.code()
    return grpc.StatusCode.OK


@pytest.fixture
def stopped_after():
    procs: list[subprocess.Popen] = []
    yield procs.append
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_health_port_binds_the_listen_host_by_default(tmp_path, stopped_after):
    port = free_port()
    stopped_after(serve(tmp_path, "--listen", "127.0.0.1:0", "--health-port", str(port)))
    assert health(f"127.0.0.1:{port}") == grpc.StatusCode.OK
    assert health(f"127.0.0.2:{port}") == grpc.StatusCode.UNAVAILABLE  # not bound on every address


def test_the_health_address_is_explicit_when_it_differs(tmp_path, stopped_after):
    port = free_port()
    stopped_after(
        serve(tmp_path, "--listen", "127.0.0.1:0", "--health-port", str(port), "--health-address", "127.0.0.2")
    )
    assert health(f"127.0.0.2:{port}") == grpc.StatusCode.OK
    assert health(f"127.0.0.1:{port}") == grpc.StatusCode.UNAVAILABLE
