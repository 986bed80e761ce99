"""Blocked join: a subset of the exhaustive join with identical scores; streaming; keys."""

from __future__ import annotations

import numpy as np
import pytest

from aidlink.matcher.comparison import Blocking, match_encodings
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack
from aidlink.matcher.similarity.blocking import NO_KEY, BlockedJoin, BlockingKeys, blocked_candidate_pairs
from aidlink.matcher.similarity.lsh import BitSamplingLsh


def _planted(seed: int = 3, n: int = 600, bits: int = 1024):
    rng = np.random.default_rng(seed)
    a = np.packbits(rng.random((n, bits)) < 0.3, axis=1)
    b = np.packbits(rng.random((n, bits)) < 0.3, axis=1)
    truth = rng.permutation(n)[: n // 2]
    for i, j in enumerate(truth):  # B row j is a noisy copy of A row i
        bits_i = np.unpackbits(a[i])
        flip = rng.random(bits) < 0.03
        b[j] = np.packbits(bits_i ^ flip)
    keys_a = np.arange(n, dtype=np.uint64)[:, None] + np.uint64(10**6)
    keys_b = np.full((n, 1), NO_KEY, dtype=np.uint64)
    for i, j in enumerate(truth):
        keys_b[j, 0] = keys_a[i, 0]  # the shared exact token of a planted pair
    return a, b, BlockingKeys(keys_a), BlockingKeys(keys_b), truth


def _as_dict(pairs: CandidatePairs) -> dict[tuple[int, int], float]:
    return dict(zip(zip(pairs.a_index.tolist(), pairs.b_index.tolist()), pairs.scores.tolist()))


def test_blocking_finds_the_planted_pairs_with_exhaustive_scores():
    a, b, ka, kb, truth = _planted()
    exhaustive = _as_dict(candidate_pairs(a, b, 0.8))
    blocked = _as_dict(blocked_candidate_pairs(a, ka, b, kb, 0.8))
    assert len(exhaustive) >= len(truth) - 5
    assert blocked == exhaustive  # every pair found, same scores bit for bit


def test_blocked_pairs_are_a_subset_even_with_partial_keys():
    a, b, ka, kb, truth = _planted(seed=5)
    half = kb.keys.copy()
    half[truth[: len(truth) // 2], 0] = NO_KEY  # half the pairs lose their token
    exhaustive = _as_dict(candidate_pairs(a, b, 0.8))
    blocked = _as_dict(blocked_candidate_pairs(a, ka, b, BlockingKeys(half), 0.8))
    assert 0 < len(blocked) < len(exhaustive)
    assert all(exhaustive[k] == s for k, s in blocked.items())


def test_lsh_bands_find_close_pairs_without_tokens():
    a, b, _, _, _ = _planted(seed=9)
    lsh = BitSamplingLsh(bands=24, bits_per_band=16)
    pa, pb = pack(a), pack(b)
    none_a = BlockingKeys(np.full((len(a), 1), NO_KEY, dtype=np.uint64))
    none_b = BlockingKeys(np.full((len(b), 1), NO_KEY, dtype=np.uint64))
    join = BlockedJoin(pa, none_a.with_keys(lsh.band_keys(pa)), pb, none_b.with_keys(lsh.band_keys(pb)), 0.8)
    blocked = _as_dict(join.all())
    exhaustive = _as_dict(candidate_pairs(a, b, 0.8))
    assert set(blocked) <= set(exhaustive)
    assert len(blocked) >= 0.9 * len(exhaustive)
    assert join.candidates < len(a) * len(b) / 20  # far fewer than all pairs


def test_each_candidate_pair_is_scored_once_when_many_keys_are_shared():
    a, b, ka, kb, truth = _planted(seed=11, n=200)
    offsets = (np.arange(1, 4, dtype=np.uint64) << np.uint64(40))[None, :]
    many_a = ka.with_keys(ka.keys + offsets)
    b_extra = np.where(kb.keys == NO_KEY, NO_KEY, kb.keys + offsets)
    many_b = kb.with_keys(b_extra)
    join = BlockedJoin(a, many_a, b, many_b, 0.8)
    pairs = join.all()
    assert join.candidates == len(truth)  # 4 shared keys per planted pair, 1 candidate
    assert len(set(zip(pairs.a_index.tolist(), pairs.b_index.tolist()))) == len(pairs)


def test_streamed_chunks_equal_one_shot_and_report_progress():
    a, b, ka, kb, _ = _planted(seed=13)
    calls: list[tuple[int, int]] = []
    join = BlockedJoin(a, ka, b, kb, 0.8)
    chunks = list(join.chunks(97, progress=lambda done, total: calls.append((done, total))))
    one_shot = blocked_candidate_pairs(a, ka, b, kb, 0.8)
    joined = CandidatePairs.concatenate(chunks)
    assert np.array_equal(joined.scores, one_shot.scores)
    assert np.array_equal(joined.a_index, one_shot.a_index)
    assert np.array_equal(joined.b_index, one_shot.b_index)
    assert len(chunks) == 7 and calls[-1] == (len(a), len(a))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_match_encodings_blocked_equals_exhaustive_links_and_calls_progress():
    a, b, ka, kb, _ = _planted(seed=17)
    seen: list[int] = []
    blocked = match_encodings(
        a, b, 0.8, all_pairs=False, blocking=Blocking(ka, kb), progress=lambda d, t: seen.append(d), chunk_rows=128
    )
    exhaustive = match_encodings(a, b, 0.8, all_pairs=False)
    assert blocked.blocked and not exhaustive.blocked
    assert blocked.links == exhaustive.links
    assert blocked.comparisons < exhaustive.comparisons == len(a) * len(b)
    assert seen[-1] == len(a)


def test_ragged_keys_are_sorted_deduplicated_and_padded():
    keys = BlockingKeys.from_ragged(np.array([2, 0, 3]), np.array([5, 1, 7, 7, 2], dtype=np.uint64))
    assert keys.keys.tolist() == [[1, 5, int(NO_KEY)], [int(NO_KEY)] * 3, [2, 7, int(NO_KEY)]]
    with pytest.raises(ValueError, match="add up to"):
        BlockingKeys.from_ragged(np.array([1]), np.array([], dtype=np.uint64))


def test_blocking_refuses_a_zero_threshold():
    a, b, ka, kb, _ = _planted(n=20)
    with pytest.raises(ValueError, match="threshold above 0"):
        BlockedJoin(a, ka, b, kb, 0.0)
