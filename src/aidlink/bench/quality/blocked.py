"""The matcher's blocked join beside the exhaustive one, on the node's own records and tokens.

Rows go through :class:`gateway.pipeline.RecordPipeline` (normalization, encoding, the schema's
blocking tokens), then the join the matcher runs: exhaustive, keyed tokens plus Hamming-LSH
bands (the default), tokens only; missing-aware for a segmented schema. Greedy 1-to-1 links at
one threshold; precision, recall and F1 against the task's truth.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aidlink.bench.quality.task import LinkageTask, pair_codes
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline, RowRefused
from aidlink.matcher.comparison import DEFAULT_LSH, Blocking, MatchOutcome, match_encodings
from aidlink.matcher.missing_aware import OptionalSegments, missing_aware_match
from aidlink.matcher.similarity.blocking import BlockingKeys


@dataclass(frozen=True)
class JoinRow:
    join: str
    scored_pairs: int
    links: int
    precision: float
    recall: float
    f1: float
    seconds: float


def _side(pipeline: RecordPipeline, rows: Sequence[Mapping[str, str]]) -> tuple[np.ndarray, BlockingKeys]:
    encodings = np.zeros((len(rows), pipeline.parameters.bits // 8), dtype=np.uint8)
    tokens: list[list[bytes]] = []
    for i, row in enumerate(rows):
        try:
            record = pipeline.prepare(row)
        except RowRefused:
            tokens.append([])  # refused: matches nothing, still counts in recall
            continue
        encodings[i] = np.frombuffer(record.encoding, dtype=np.uint8)
        tokens.append(list(record.blocking_tokens))
    return encodings, BlockingKeys.from_tokens(tokens)


def compare_joins(
    task: LinkageTask, schema: LinkageSchema, secret: bytes, threshold: float, segments: OptionalSegments | None
) -> list[JoinRow]:
    """Exhaustive, tokens + LSH, tokens only: one row each."""
    pipeline = RecordPipeline(schema, secret, 1, today=lambda: task.reference_date)  # type: ignore[arg-type, return-value]
    enc_a, keys_a = _side(pipeline, task.rows_a)
    enc_b, keys_b = _side(pipeline, task.rows_b)
    truth = set(pair_codes(task.true_pairs, len(task.rows_b)).tolist())
    out = []
    for name, keyed, lsh in (
        ("exhaustive", False, None),
        ("tokens + LSH", True, DEFAULT_LSH),
        ("tokens only", True, None),
    ):
        began = time.monotonic()
        outcome: MatchOutcome
        if segments is not None:
            outcome = missing_aware_match(
                enc_a,
                enc_b,
                threshold,
                segments,
                all_pairs=False,
                mine_blocking=keys_a if keyed else None,
                other_blocking=keys_b if keyed else None,
                lsh=lsh,
            )
        else:
            blocking = Blocking(keys_a, keys_b, lsh) if keyed else None
            outcome = match_encodings(enc_a, enc_b, threshold, all_pairs=False, blocking=blocking)
        correct = sum(1 for link in outcome.links if link.mine * len(task.rows_b) + link.other in truth)
        precision = correct / len(outcome.links) if outcome.links else 1.0
        recall = correct / len(truth) if truth else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(
            JoinRow(name, outcome.comparisons, len(outcome.links), precision, recall, f1, time.monotonic() - began)
        )
    return out
