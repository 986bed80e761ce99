"""Finds which records of one dataset match another: candidate pairs by the
Dice kernel (exhaustive, or blocked when both sides carry blocking keys), then
either every pair at or above the threshold or a greedy 1-to-1 assignment (the
same links as anonlink's greedy solver).

Candidate pairs stream in chunks of rows of `mine`; `progress(done, total)` is
called after each chunk, so a command line can draw a bar and a server can send
progress events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from aidlink.matcher.similarity import CandidatePairs, greedy_link_pairs, iter_candidate_chunks, pack
from aidlink.matcher.similarity.blocking import BlockedJoin, BlockingKeys
from aidlink.matcher.similarity.lsh import BitSamplingLsh

DEFAULT_THRESHOLD = 0.8
DEFAULT_CHUNK_ROWS = 20_000
DEFAULT_LSH = BitSamplingLsh(bands=16, bits_per_band=32)  # measured in docs/scale.md

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Link:
    mine: int  # row in the caller's dataset
    other: int  # row in the other dataset (after the agreement's filter)
    score: float


@dataclass(frozen=True)
class MatchOutcome:
    pairs: CandidatePairs  # the links as arrays, in canonical order (score descending, mine, other)
    comparisons: int  # pairs examined: all pairs (exhaustive) or candidate pairs (blocked)
    blocked: bool

    @cached_property
    def links(self) -> list[Link]:
        """The links one object each (small results: status queries, monitoring, tests)."""
        p = self.pairs
        return [Link(a, b, s) for a, b, s in zip(p.a_index.tolist(), p.b_index.tolist(), p.scores.tolist())]


@dataclass(frozen=True)
class Blocking:
    """Blocking for one comparison: both sides' keyed tokens, plus LSH bands (None: tokens only)."""

    mine: BlockingKeys
    other: BlockingKeys
    lsh: BitSamplingLsh | None = DEFAULT_LSH

    def keys(self, mine_packed: np.ndarray, other_packed: np.ndarray) -> tuple[BlockingKeys, BlockingKeys]:
        """Both sides' full key sets: the tokens, plus the LSH band keys of the packed encodings."""
        if self.lsh is None:
            return self.mine, self.other
        return self.mine.with_keys(self.lsh.band_keys(mine_packed)), self.other.with_keys(
            self.lsh.band_keys(other_packed)
        )


def candidate_chunks(
    mine: np.ndarray,
    other: np.ndarray,
    threshold: float,
    *,
    blocking: Blocking | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    threads: int | None = None,
):
    """(iterator of CandidatePairs chunks, function giving the comparisons made so far)."""
    a, b = pack(mine), pack(other)
    if blocking is None or threshold <= 0:
        chunks = iter_candidate_chunks(a, b, threshold, chunk_rows=chunk_rows, threads=threads, progress=progress)
        return chunks, lambda: len(a) * len(b)
    a_keys, b_keys = blocking.keys(a, b)
    join = BlockedJoin(a, a_keys, b, b_keys, threshold, threads=threads)
    return join.chunks(chunk_rows, progress), lambda: join.candidates


def match_encodings(
    mine: np.ndarray,
    other: np.ndarray,
    threshold: float,
    *,
    all_pairs: bool,
    blocking: Blocking | None = None,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    threads: int | None = None,
) -> MatchOutcome:
    """Links between rows of `mine` and `other` (uint8 arrays of equal width), with counts."""
    if len(mine) == 0 or len(other) == 0:
        if progress:
            progress(len(mine), len(mine))
        return MatchOutcome(CandidatePairs.empty(), 0, blocking is not None)
    chunks, comparisons = candidate_chunks(
        mine, other, threshold, blocking=blocking, chunk_rows=chunk_rows, progress=progress, threads=threads
    )
    candidates = CandidatePairs.concatenate(list(chunks))
    if not all_pairs:
        candidates = greedy_link_pairs(candidates)
    return MatchOutcome(candidates, comparisons(), blocking is not None and threshold > 0)


def compare_encodings(
    mine: np.ndarray,
    other: np.ndarray,
    threshold: float,
    *,
    all_pairs: bool,
    progress: Progress | None = None,
    blocking: Blocking | None = None,
) -> list[Link]:
    """Links between rows of `mine` and `other` (uint8 arrays of equal width)."""
    return match_encodings(mine, other, threshold, all_pairs=all_pairs, blocking=blocking, progress=progress).links
