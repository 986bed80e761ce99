"""A real `aidlink witness serve` process for tests: keys made with `aidlink witness keygen`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = b"officers' witness passphrase"


def cli_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))


def aidlink(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "aidlink.cli.main", *args],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"aidlink {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


@dataclass
class WitnessDir:
    directory: Path
    passphrase_file: Path
    vkey: str


def make_witness(directory: Path, name: str = "officers.example/witness") -> WitnessDir:
    passphrase_file = directory.parent / f"{directory.name}.passphrase"
    passphrase_file.write_bytes(PASSPHRASE)
    out = aidlink(
        "witness", "keygen", "--dir", str(directory), "--name", name, "--passphrase-file", str(passphrase_file)
    )
    return WitnessDir(directory, passphrase_file, out.stdout.strip())


@dataclass
class RunningWitness:
    process: subprocess.Popen
    url: str
    output: list[str]


@contextmanager
def running_witness(witness: WitnessDir, log_keys: list[str], listen: str = "127.0.0.1:0") -> Iterator[RunningWitness]:
    args = [sys.executable, "-m", "aidlink.cli.main", "witness", "serve", "--dir", str(witness.directory)]
    args += ["--listen", listen, "--passphrase-file", str(witness.passphrase_file)]
    for key in log_keys:
        args += ["--log-key", key]
    proc = subprocess.Popen(args, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if " listening on " in line:
                url = line.split(" listening on ")[1].strip()
                threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
                yield RunningWitness(proc, url, lines)
                return
        raise AssertionError("witness did not start:\n" + "".join(lines))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
