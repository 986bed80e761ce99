"""Serve commands stop on SIGTERM even when the kernel hands the signal to a worker thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The main thread waits as a serve command does; a server thread then receives SIGTERM itself
# (pthread_kill: what the kernel may do with a process-directed signal). A main thread blocked
# without a timeout would never run the handler, and this child would never exit.
CHILD = textwrap.dedent(
    """
    import signal, sys, threading, time
    sys.path.insert(0, {src!r})
    from aidlink.cli.termination import TerminationSignal

    termination = TerminationSignal()

    def worker():
        time.sleep(0.3)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # to this thread, not the main one
        time.sleep(60)

    threading.Thread(target=worker, daemon=True).start()
    termination.wait()
    print("stopped gracefully", flush=True)
    """
)


def test_sigterm_delivered_to_a_worker_thread_still_stops_the_serve_loop():
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(src=str(ROOT / "src"))], stdout=subprocess.PIPE, text=True
    )
    try:
        out, _ = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise AssertionError("the main thread never ran the SIGTERM handler: the serve loop would hang") from None
    assert child.returncode == 0 and "stopped gracefully" in out


def test_every_serve_command_waits_through_the_one_termination_recipe():
    """matcher, gateway, witness and console serve: no second copy of the signal handling."""
    for path in ("cli/matcher_commands.py", "cli/gateway_commands.py", "witness/cli.py", "console/cli.py"):
        text = (ROOT / "src" / "aidlink" / path).read_text(encoding="utf-8")
        assert "TerminationSignal()" in text and "signal.signal(" not in text, path
