"""Popcount bounds used for pruning are exact and conservative."""

from __future__ import annotations

import numpy as np
import pytest

from aidlink.matcher.similarity.bounds import anonlink_max_difference, min_common_counts, popcount_windows


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.3, 0.5, 2 / 3, 0.75, 0.8, 0.95, 1.0, 1e-16])
def test_min_common_is_the_least_passing_intersection_and_non_decreasing(threshold: float) -> None:
    table = min_common_counts(2048, threshold)
    sums = np.arange(1, 2049)
    need = table[1:]
    assert np.all(np.diff(table[1:]) >= 0)
    assert np.all((2.0 * need) / sums >= threshold)
    below = need - 1
    has_below = below >= 0
    assert np.all((2.0 * below[has_below]) / sums[has_below] < threshold)


def test_anonlink_max_difference_matches_known_values() -> None:
    assert anonlink_max_difference(100, 0.8) == 50
    assert anonlink_max_difference(3, 0.75) == 1  # 2*3*(1/0.75 - 1) = 1.9999999999999996
    assert anonlink_max_difference(500, 1e-16) == 0  # overflows int64: cvttsd2si -> 0
    assert anonlink_max_difference(10, 1.0) == 0
    assert anonlink_max_difference(10, 1.5) > 2**31  # negative wraps to a huge uint32


def test_windows_never_exclude_a_pair_that_can_pass() -> None:
    bits = 160
    pops = np.arange(bits + 1)
    for threshold in (0.3, 0.75, 0.8, 0.9):
        low, high = popcount_windows(pops, bits, threshold)
        for pa in range(1, bits + 1):
            delta = anonlink_max_difference(pa, threshold)
            for pb in range(bits + 1):
                passes = (2.0 * min(pa, pb)) / (pa + pb) >= threshold and abs(pa - pb) <= delta
                if passes:
                    assert low[pa] <= pb <= high[pa], (threshold, pa, pb)
        assert low[0] > high[0]  # zero popcounts are handled apart
