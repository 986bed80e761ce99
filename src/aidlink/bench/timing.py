"""Wall-clock timing of one call, for the side-by-side benchmarks."""

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
