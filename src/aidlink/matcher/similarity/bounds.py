"""Popcount windows: which B popcounts can still reach the threshold for a given A popcount.

Two filters are combined, both evaluated exactly as the scores themselves are:

* anonlink's own pruning (``calculate_max_difference`` in anonlink's dice.cpp): a pair is
  only scored when ``|pa - pb| <= uint32(2 * pa * (1 / threshold - 1))``. Because that
  bound is computed in floating point it can, at the boundary, drop a pair whose score
  would reach the threshold; reproducing it keeps our results identical to anonlink's.
* the Dice upper bound ``2 * min(pa, pb) / (pa + pb)``: since ``|A & B| <= min(pa, pb)``
  and IEEE division is monotonic, a pair whose bound (computed in double, like the
  score) is below the threshold cannot reach it. This only skips work.

B rows sorted by popcount turn each window into one contiguous row range.
"""

from __future__ import annotations

import math

import numpy as np

_UINT32_MASK = 0xFFFFFFFF
_INT64_LIMIT = 2.0**63
_WINDOW_BATCH = 256  # A popcount values per vectorised step (bounds temporary memory)


def anonlink_max_difference(popcount: int, threshold: float) -> int:
    """anonlink's ``max_popcnt_delta`` for an A popcount, bit for bit on x86-64.

    anonlink returns ``2 * pa * (1 / threshold - 1)`` (a double) as ``uint32_t``; GCC
    compiles that conversion to ``cvttsd2si`` into a 64-bit register, keeping the low
    32 bits. Out-of-range values (huge, for thresholds near 0) become INT64_MIN, whose
    low 32 bits are 0; negative values (thresholds above 1) wrap to large numbers.
    """
    value = float(2 * popcount) * (1.0 / threshold - 1.0)
    if not math.isfinite(value) or not -_INT64_LIMIT <= value < _INT64_LIMIT:
        return 0
    return int(value) & _UINT32_MASK


def popcount_windows(a_popcounts: np.ndarray, bits: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive B popcount range ``[low, high]`` per A popcount (empty when low > high).

    Rows of A with popcount 0 get an empty window: their scores are handled apart
    (anonlink scores them 0.0 against everything, and only when ``threshold <= 0``).
    """
    values, inverse = np.unique(a_popcounts, return_inverse=True)
    low = np.ones(len(values), dtype=np.int64)
    high = np.zeros(len(values), dtype=np.int64)
    b_counts = np.arange(bits + 1, dtype=np.int64)[None, :]
    for start in range(0, len(values), _WINDOW_BATCH):
        pa = values[start : start + _WINDOW_BATCH, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (2.0 * np.minimum(b_counts, pa)) / (b_counts + pa).astype(np.float64)
        usable = (bound >= threshold) & (pa > 0)
        if threshold > 0:
            delta = np.array([anonlink_max_difference(int(p), threshold) for p in pa[:, 0]], dtype=np.int64)
            usable &= np.abs(b_counts - pa) <= delta[:, None]
        found = usable.any(axis=1)
        first = np.argmax(usable, axis=1)
        last = bits - np.argmax(usable[:, ::-1], axis=1)
        low[start : start + _WINDOW_BATCH] = np.where(found, first, 1)
        high[start : start + _WINDOW_BATCH] = np.where(found, last, 0)
    return low[inverse], high[inverse]


def min_common_counts(max_sum: int, threshold: float) -> np.ndarray:
    """Least intersection ``c`` with ``2c / s >= threshold`` (in double), per popcount sum ``s``.

    Entry ``s`` for ``0 <= s <= max_sum``. IEEE division is monotonic in ``c``, so
    ``common >= min_common[s]`` holds exactly when the score passes; and since a ``c``
    that passes for ``s + 1`` passes for ``s``, the table is non-decreasing in ``s``
    (``c`` is deliberately not capped at ``s / 2``, which would break that). Where no
    ``c`` near ``threshold * s / 2`` passes (only for thresholds above 1, when no pair
    can pass) the entry is ``max_sum + 1``. Entry 0 is unused (zero popcounts are
    handled apart).
    """
    sums = np.arange(max_sum + 1, dtype=np.int64)
    # The exact answer lies within a few integers of threshold * s / 2; test them all.
    guess = np.floor(np.clip(threshold, 0.0, 1.0) * sums / 2.0).astype(np.int64) - 2
    candidates = np.maximum(guess, 0)[:, None] + np.arange(6, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        passes = (2.0 * candidates) / sums[:, None].astype(np.float64) >= threshold
    first = np.where(passes.any(axis=1), candidates[np.arange(len(sums)), passes.argmax(axis=1)], max_sum + 1)
    first[0] = 0
    return first.astype(np.int64)
