"""Precision, recall, F1 and pair completeness of greedy 1-to-1 links across thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aidlink.bench.quality.task import LinkageTask, pair_codes
from aidlink.matcher.missing_aware import OptionalSegments, missing_aware_pairs
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, greedy_link_pairs, pack


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    links: int
    true_links: int
    precision: float
    recall: float
    f1: float
    pair_completeness: float  # true pairs scoring >= threshold, before the 1-to-1 solver
    hard_negative_links: dict[str, int] = field(default_factory=dict)

    def hard_negative_rate(self, kind: str, total: int) -> float:
        return self.hard_negative_links.get(kind, 0) / total if total else 0.0


@dataclass(frozen=True)
class Evaluation:
    method: str
    rows: list[ThresholdRow]
    true_pairs: int
    hard_negative_pairs: dict[str, int]
    candidates: int

    def at(self, threshold: float) -> ThresholdRow:
        return min(self.rows, key=lambda r: abs(r.threshold - threshold))

    @property
    def best(self) -> ThresholdRow:
        """The row with the highest F1 (the lowest threshold among ties)."""
        return max(self.rows, key=lambda r: (r.f1, -r.threshold))


def thresholds(low: float, high: float, step: float) -> list[float]:
    count = int(round((high - low) / step)) + 1
    return [round(low + i * step, 4) for i in range(count)]


def evaluate(
    method: str,
    task: LinkageTask,
    enc_a: np.ndarray,
    enc_b: np.ndarray,
    sweep: list[float],
    *,
    threads: int | None = None,
    segments: OptionalSegments | None = None,
) -> Evaluation:
    """Candidates at the lowest threshold, one greedy solve, then every threshold as a prefix.

    Greedy takes pairs best-first, so its links at threshold t are exactly its links with
    score >= t from the solve at the lowest threshold. With ``segments`` (a segmented schema)
    pairs are scored missing-aware, as the matcher does (:mod:`matcher.missing_aware`).
    """
    n_b = len(enc_b)
    low = min(sweep)
    if segments is not None and segments.ranges:

        def find(a: np.ndarray, b: np.ndarray, _ra: np.ndarray, _rb: np.ndarray) -> CandidatePairs:
            return candidate_pairs(pack(a), pack(b), low, threads=threads)

        candidates, _ = missing_aware_pairs(enc_a, enc_b, segments, find)
    else:
        candidates = candidate_pairs(pack(enc_a), pack(enc_b), low, threads=threads)
    links = greedy_link_pairs(candidates)
    truth = np.sort(pair_codes(task.true_pairs, n_b))
    link_codes = links.a_index * n_b + links.b_index
    link_true = np.isin(link_codes, truth, assume_unique=False)
    cand_true = np.isin(candidates.a_index * n_b + candidates.b_index, truth)
    true_scores = np.sort(candidates.scores[cand_true])
    link_scores = links.scores  # descending
    hard = {kind: np.isin(link_codes, pair_codes(pairs, n_b)) for kind, pairs in task.hard_negatives.items()}
    total_true = len(task.true_pairs)
    rows = []
    for t in sweep:
        taken = link_scores >= t
        n_links = int(taken.sum())
        tp = int((link_true & taken).sum())
        precision = tp / n_links if n_links else 1.0
        recall = tp / total_true if total_true else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        pc = (len(true_scores) - int(np.searchsorted(true_scores, t, side="left"))) / total_true if total_true else 1.0
        rows.append(
            ThresholdRow(
                t,
                n_links,
                tp,
                precision,
                recall,
                f1,
                pc,
                {kind: int((mask & taken).sum()) for kind, mask in hard.items()},
            )
        )
    return Evaluation(method, rows, total_true, {k: len(v) for k, v in task.hard_negatives.items()}, len(candidates))
