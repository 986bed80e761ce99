"""Greedy 1-to-1 linkage of candidate pairs (anonlink's ``greedy_solve``, bipartite case)."""

from __future__ import annotations

import numpy as np
from numba import njit

from aidlink.matcher.similarity.candidates import CandidatePairs


@njit(cache=True, nogil=True)
def _greedy_accept(a_index, b_index, n_a, n_b):  # pragma: no cover - compiled
    taken_a = np.zeros(n_a, dtype=np.bool_)
    taken_b = np.zeros(n_b, dtype=np.bool_)
    accepted = np.empty(a_index.shape[0], dtype=np.int64)
    n = 0
    for k in range(a_index.shape[0]):
        i = a_index[k]
        j = b_index[k]
        if not taken_a[i] and not taken_b[j]:
            taken_a[i] = True
            taken_b[j] = True
            accepted[n] = k
            n += 1
    return accepted[:n]


def greedy_link_pairs(candidates: CandidatePairs) -> CandidatePairs:
    """The candidate pairs the greedy solver links, in the order it links them.

    Candidates are taken in their stored order (canonical order, score descending, for
    results of :func:`~matcher.similarity.dice.candidate_pairs`); a pair is linked when
    neither record is linked yet. For two datasets this is exactly what anonlink's
    ``greedy_solve`` does: its groups never grow past one record per side, since a
    merge needs a candidate pair between every two records of the merged group.
    """
    if len(candidates) == 0:
        return CandidatePairs.empty()
    for name in ("a_index", "b_index"):
        index = getattr(candidates, name)
        if index.min() < 0:
            bad = int(np.flatnonzero(index < 0)[0])
            raise ValueError(f"candidate {bad} has negative {name} {int(index[bad])}")
    accepted = _greedy_accept(
        candidates.a_index, candidates.b_index, int(candidates.a_index.max()) + 1, int(candidates.b_index.max()) + 1
    )
    return CandidatePairs(candidates.scores[accepted], candidates.a_index[accepted], candidates.b_index[accepted])


def greedy_links(candidates: CandidatePairs) -> list[tuple[int, int, float]]:
    """Greedy 1-to-1 links as ``(a_index, b_index, score)``, best score first."""
    links = greedy_link_pairs(candidates)
    return list(zip(links.a_index.tolist(), links.b_index.tolist(), links.scores.tolist()))
