"""Wall-clock (and CPU) timing of one call, for the side-by-side benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """``call()``'s result and the seconds it took."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def timed_cpu(call: Callable[[], T]) -> tuple[T, float, float]:
    """``call()``'s result, the wall seconds it took and the CPU seconds this process spent
    meanwhile (all its threads). On a machine shared with other work, CPU seconds show what
    the call costs where wall time also counts the time it waited for a core."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu
