"""docs/department-guide.md, run: every fenced ``sh`` block of the guide, in order, in an empty
directory, with the ``aidlink`` command of this checkout, from custody keys to a first
comparison result. The doc is the test's script, so the two cannot drift apart.

``sh`` blocks run with ``bash -euo pipefail`` and must exit 0. ``sh server`` blocks are services:
started in their own process group, awaited until they print ``listening on``, and stopped
(SIGTERM, then SIGKILL) when the test ends, whatever happens. The guide's matcher address
``127.0.0.1:50051`` is replaced by a free loopback port so runs do not collide.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import aidlink
from aidlink.cli.downloads import read_table

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "department-guide.md"
GUIDE_MATCHER = "127.0.0.1:50051"
BLOCK = re.compile(r"^```(sh(?: server)?)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
READY = "listening on"
START_TIMEOUT_S = 90  # generous: a loaded 2-core machine; the service prints READY as soon as it serves
COMMAND_TIMEOUT_S = 180


def guide_blocks(text: str) -> list[tuple[str, str]]:
    """(kind, script) of each fenced sh block, in document order; kind is "sh" or "sh server"."""
    return [(m[1], m[2]) for m in BLOCK.finditer(text)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "aidlink"  # `aidlink` = this checkout's CLI, whatever is installed
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m aidlink.cli.main "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDLINK_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(Path(aidlink.__file__).resolve().parents[1])
    return env


class Service:
    """A ``sh server`` block in its own process group; its output goes to a file (never a pipe
    nobody reads, which would stall a service that logs a lot)."""

    def __init__(self, script: str, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.script = script
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", f"exec {script.strip()}"],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            if READY in self.output():
                return
            time.sleep(0.1)
        if READY not in self.output():
            raise AssertionError(f"service did not report {READY!r}:\n{self.script}\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def test_the_guide_has_commands_and_services():
    kinds = [kind for kind, _ in guide_blocks(GUIDE.read_text("utf-8"))]
    assert kinds.count("sh server") == 3 and kinds.count("sh") >= 6


def test_department_guide_from_an_empty_directory_to_a_first_comparison(tmp_path):
    work = tmp_path / "guide"
    work.mkdir()
    env = _environment(tmp_path)
    matcher = f"127.0.0.1:{_free_port()}"
    services: list[Service] = []
    transcript: list[str] = []
    try:
        for kind, script in guide_blocks(GUIDE.read_text("utf-8")):
            script = script.replace(GUIDE_MATCHER, matcher)
            if kind == "sh server":
                service = Service(script, work, env, tmp_path / f"service-{len(services)}.log")
                services.append(service)
                service.wait_ready()
                continue
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            transcript.append(f"$ {script}\n{done.stdout}{done.stderr}")
            assert done.returncode == 0, "\n".join(transcript)
            assert "Traceback" not in done.stderr, "\n".join(transcript)
    finally:
        for service in reversed(services):
            service.stop()
    log = "\n".join(transcript)
    (tmp_path / "transcript.txt").write_text(log, "utf-8")  # kept by pytest for a failing run
    # node init laid out the names `gateway serve` wants, privately, and said what to run next
    node = work / "nodes" / "edu"
    assert {"ca.crt", "node.crt", "node.key", "crl.pem", "linkage-secret.sealed", "gateway.toml"} <= {
        p.name for p in node.iterdir()
    }
    assert stat.S_IMODE(node.stat().st_mode) == 0o700 and stat.S_IMODE((node / "node.key").stat().st_mode) == 0o600
    assert "aidlink gateway serve --config nodes/edu/gateway.toml" in log
    # every row of both extracts uploaded: Chinese-numeral, slashed and Excel-serial dates, mapped headers
    assert "low-income v1: 5 of 5 rows uploaded, 0 problem(s)" in log
    assert "students v1: 3 of 3 rows uploaded, 0 problem(s)" in log
    # the first comparison: edu learns which of its own students are in assisted households
    header, cells = read_table(work / "students-in-assisted-households.csv")  # with the Art. 26 notice
    rows = [dict(zip(header, r)) for r in cells]
    assert sorted((r["record_id"], r["category"]) for r in rows) == [("s1", "dibao"), ("s2", "tekun")]
    assert re.search(r"^2 of 3 records of edu/students match mca/low-income", log, re.MULTILINE), log[-2000:]
    assert "reference data" in log
