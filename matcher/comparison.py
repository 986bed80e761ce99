"""Finds which records of one dataset match another: candidate pairs by the
Dice kernel, then either every pair at or above the threshold or a greedy
1-to-1 assignment (the same links as anonlink's greedy solver)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from matcher.similarity import candidate_pairs, greedy_links, pack

DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True)
class Link:
    mine: int      # row in the caller's dataset
    other: int     # row in the other dataset (after the agreement's filter)
    score: float


def compare_encodings(mine: np.ndarray, other: np.ndarray, threshold: float, *, all_pairs: bool,
                      progress: Callable[[int, int], None] | None = None) -> list[Link]:
    """Links between rows of `mine` and `other` (uint8 arrays of equal width)."""
    if len(mine) == 0 or len(other) == 0:
        return []
    candidates = candidate_pairs(pack(mine), pack(other), threshold)
    if progress:
        progress(len(mine), len(mine))
    if all_pairs:
        return [Link(int(a), int(b), float(s)) for s, a, b in
                zip(candidates.scores, candidates.a_index, candidates.b_index)]
    return [Link(int(a), int(b), float(s)) for a, b, s in greedy_links(candidates)]
