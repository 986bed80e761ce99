"""Streaming chunks over rows of A add up to the one-shot join."""

from __future__ import annotations

import numpy as np
import pytest

from aidlink.bench.kernel import make_datasets
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, iter_candidate_chunks


def _same(x: CandidatePairs, y: CandidatePairs) -> bool:
    return (
        x.scores.tobytes() == y.scores.tobytes()
        and np.array_equal(x.a_index, y.a_index)
        and np.array_equal(x.b_index, y.b_index)
    )


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 250, 1000])
def test_chunks_concatenate_to_the_one_shot_result(chunk_rows: int) -> None:
    a, b = make_datasets(250, 1024, planted=0.5, seed=21)
    whole = candidate_pairs(a, b, 0.75)
    chunks = list(iter_candidate_chunks(a, b, 0.75, chunk_rows=chunk_rows))
    assert len(chunks) == -(-250 // chunk_rows)
    for k, chunk in enumerate(chunks):
        assert np.all(chunk.a_index // chunk_rows == k)  # chunk k covers its own rows of A
        assert _same(chunk, CandidatePairs.concatenate([chunk]))  # each in canonical order
    assert _same(CandidatePairs.concatenate(chunks), whole)


def test_chunks_with_zero_threshold_include_zero_encodings() -> None:
    a, b = make_datasets(30, 512, planted=0.3, seed=2)
    a[3] = 0
    b[5] = 0
    whole = candidate_pairs(a, b, 0.0, threads=1)
    assert len(whole) == 900
    streamed = CandidatePairs.concatenate(iter_candidate_chunks(a, b, 0.0, chunk_rows=4))
    assert _same(streamed, whole)


def test_progress_reports_done_and_total_rows() -> None:
    a, b = make_datasets(100, 512, planted=0.5, seed=8)
    seen: list[tuple[int, int]] = []
    for _ in iter_candidate_chunks(
        a, b, 0.8, chunk_rows=30, threads=2, progress=lambda done, total: seen.append((done, total))
    ):
        pass
    assert seen == [(30, 100), (60, 100), (90, 100), (100, 100)]


def test_chunks_are_produced_lazily() -> None:
    a, b = make_datasets(40, 512, planted=0.5, seed=1)
    seen: list[int] = []
    stream = iter_candidate_chunks(a, b, 0.8, chunk_rows=10, progress=lambda done, total: seen.append(done))
    next(stream)
    assert seen == []  # progress follows each chunk once the consumer moves on
    next(stream)
    assert seen == [10]


def test_empty_sides_stream_nothing_or_empty_chunks() -> None:
    a, _ = make_datasets(5, 512, planted=0.0, seed=3)
    assert list(iter_candidate_chunks(a[:0], a, 0.5, chunk_rows=2)) == []
    chunks = list(iter_candidate_chunks(a, a[:0], 0.5, chunk_rows=2))
    assert [len(c) for c in chunks] == [0, 0, 0]


def test_arguments_are_checked_when_called() -> None:
    a, _ = make_datasets(5, 512, planted=0.0, seed=3)
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        iter_candidate_chunks(a, a, 0.5, chunk_rows=0)
    with pytest.raises(ValueError, match="512 bits but dataset B encodings are 1024 bits"):
        iter_candidate_chunks(a, np.zeros((2, 128), dtype=np.uint8), 0.5, chunk_rows=2)
    with pytest.raises(ValueError, match="threshold is NaN"):
        iter_candidate_chunks(a, a, float("nan"), chunk_rows=2)
