"""A progress bar for long jobs on the command line (stderr, redrawn in place)."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, stream: TextIO, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream, width
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        filled = int(fraction * self.width)
        elapsed = time.monotonic() - self.started
        eta = elapsed / fraction - elapsed if fraction else 0.0
        end = "\n" if done >= total else ""
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{total} rows, {elapsed:.0f}s elapsed, ~{eta:.0f}s left{end}"
        )
        self.stream.flush()
