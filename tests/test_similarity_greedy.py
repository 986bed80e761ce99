"""Greedy 1-to-1 links equal anonlink's greedy_solve on the same candidates."""

from __future__ import annotations

import numpy as np
import pytest

from aidlink.bench.anonlink_compat import import_anonlink
from aidlink.bench.kernel import make_datasets
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, greedy_link_pairs, greedy_links

import_anonlink()
from anonlink.solving import greedy_solve, pairs_from_groups  # noqa: E402


def anonlink_links(candidates: CandidatePairs) -> set[tuple[int, int]]:
    return set(pairs_from_groups(greedy_solve(candidates.to_anonlink())))


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_greedy_equals_anonlink_on_competing_candidates(threshold: float) -> None:
    a, b = make_datasets(200, 512, planted=0.6, seed=13)
    b = np.concatenate([b, b[:40]])  # duplicates in B compete for the same A records
    candidates = candidate_pairs(a, b, threshold)
    links = greedy_links(candidates)
    assert {(i, j) for i, j, _ in links} == anonlink_links(candidates)
    assert len(links) > 50


def test_greedy_equals_anonlink_with_many_tied_scores() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(80, 8), dtype=np.uint8)  # 64 bits: many equal scores
    b = rng.integers(0, 256, size=(90, 8), dtype=np.uint8)
    candidates = candidate_pairs(a, b, 0.4)
    assert len(np.unique(candidates.scores)) < len(candidates) / 5
    links = greedy_links(candidates)
    assert {(i, j) for i, j, _ in links} == anonlink_links(candidates)


def test_links_are_one_to_one_best_first_with_their_scores() -> None:
    a, b = make_datasets(150, 1024, planted=0.7, seed=6)
    candidates = candidate_pairs(a, b, 0.35)
    links = greedy_links(candidates)
    a_side = [i for i, _, _ in links]
    b_side = [j for _, j, _ in links]
    assert len(set(a_side)) == len(a_side) and len(set(b_side)) == len(b_side)
    scores = [s for _, _, s in links]
    assert scores == sorted(scores, reverse=True)
    lookup = {
        (i, j): s
        for s, i, j in zip(candidates.scores.tolist(), candidates.a_index.tolist(), candidates.b_index.tolist())
    }
    assert all(lookup[(i, j)] == s for i, j, s in links)
    assert all(isinstance(v, int) for v in a_side + b_side)


def test_greedy_takes_candidates_in_their_given_order() -> None:
    pairs = CandidatePairs(np.array([0.9, 0.9, 0.85, 0.8]), np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]))
    assert greedy_links(pairs) == [(0, 0, 0.9), (1, 1, 0.85)]
    assert anonlink_links(pairs) == {(0, 0), (1, 1)}
    assert len(greedy_link_pairs(pairs)) == 2


def test_empty_and_invalid_candidates() -> None:
    assert greedy_links(CandidatePairs.empty()) == []
    bad = CandidatePairs(np.array([0.9]), np.array([-1]), np.array([0]))
    with pytest.raises(ValueError, match="candidate 0 has negative a_index -1"):
        greedy_links(bad)
