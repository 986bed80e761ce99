"""A serve command's main thread waiting for SIGTERM or SIGINT, then stopping gracefully.

Written once for every long-running command (matcher, gateway, witness, console). The wait polls:
CPython runs a Python signal handler only in the main thread, and a process-directed signal may be
delivered by the kernel to any thread. When it lands on one of a server's worker threads, a main
thread blocked in ``Event.wait()`` *without* a timeout is never interrupted, never runs the handler,
and the process ignores the orchestrator's SIGTERM until it is killed (seen: a matcher still
running 27 minutes after SIGTERM). Waking every ``POLL_SECONDS`` lets the main thread run the
pending handler. The handlers are installed before the command says it is listening, so a
SIGTERM sent as soon as it is up is a graceful stop, not the default immediate exit.
"""

from __future__ import annotations

import signal
import threading

POLL_SECONDS = 0.5
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TerminationSignal:
    """Install in the main thread before serving; ``wait()`` returns once SIGTERM or SIGINT came."""

    def __init__(self) -> None:
        self._received = threading.Event()
        for sig in SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self._received.set()

    def wait(self) -> None:
        while not self._received.wait(POLL_SECONDS):
            pass
