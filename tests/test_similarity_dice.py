"""The Dice join returns exactly what anonlink's find_candidate_pairs returns."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aidlink.bench.anonlink_compat import import_anonlink
from aidlink.bench.kernel import make_datasets
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack

import_anonlink()
from anonlink.candidate_generation import find_candidate_pairs  # noqa: E402
from anonlink.similarities import dice_coefficient_accelerated  # noqa: E402


def anonlink_result(a_rows: list[bytes], b_rows: list[bytes], threshold: float) -> tuple:
    return find_candidate_pairs([a_rows, b_rows], dice_coefficient_accelerated, threshold)


def assert_identical(ours: CandidatePairs, theirs: tuple) -> None:
    sims, (dset0, dset1), (rec0, rec1) = ours.to_anonlink()
    t_sims, (t_dset0, t_dset1), (t_rec0, t_rec1) = theirs
    assert len(sims) == len(t_sims)
    assert (sims.typecode, rec0.typecode, dset0.typecode) == (t_sims.typecode, t_rec0.typecode, t_dset0.typecode)
    assert sims.tobytes() == t_sims.tobytes()  # scores equal bit for bit, same order
    assert rec0 == t_rec0 and rec1 == t_rec1
    assert dset0 == t_dset0 and dset1 == t_dset1


def rows(matrix: np.ndarray) -> list[bytes]:
    return [bytes(r) for r in matrix]


def bits_set(n_bytes: int, positions: range | list[int]) -> bytes:
    bitmap = np.zeros(n_bytes * 8, dtype=bool)
    bitmap[list(positions)] = True
    return np.packbits(bitmap).tobytes()


@pytest.mark.parametrize("bits", [512, 1024, 2048])
@pytest.mark.parametrize("threshold", [0.5, 0.75, 0.8, 0.9])
def test_planted_near_duplicates_match_anonlink(bits: int, threshold: float) -> None:
    a, b = make_datasets(160, bits, planted=0.5, seed=bits)
    ours = candidate_pairs(pack(a), pack(b), threshold)
    theirs = anonlink_result(rows(a), rows(b), threshold)
    assert len(theirs[0]) > 40  # planted pairs are found
    assert_identical(ours, theirs)


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.3, 0.45, 1.0])
def test_random_encodings_match_anonlink_at_low_and_extreme_thresholds(threshold: float) -> None:
    rng = np.random.default_rng(11)
    a = np.packbits(rng.random((90, 1024)) < rng.uniform(0.05, 0.5, (90, 1)), axis=1)
    b = np.concatenate([a[:10], np.packbits(rng.random((70, 1024)) < 0.3, axis=1)])
    ours = candidate_pairs(pack(a), pack(b), threshold)
    assert_identical(ours, anonlink_result(rows(a), rows(b), threshold))


def test_threads_do_not_change_the_result() -> None:
    a, b = make_datasets(300, 1024, planted=0.4, seed=5)
    one = candidate_pairs(a, b, 0.7, threads=1)
    two = candidate_pairs(a, b, 0.7, threads=2)
    assert one.scores.tobytes() == two.scores.tobytes()
    assert np.array_equal(one.a_index, two.a_index)
    assert np.array_equal(one.b_index, two.b_index)


def test_scores_are_exact_dice_in_canonical_order() -> None:
    a, b = make_datasets(120, 512, planted=0.6, seed=9)
    result = candidate_pairs(a, b, 0.6)
    bitmap_a = np.unpackbits(a, axis=1).astype(np.int64)
    bitmap_b = np.unpackbits(b, axis=1).astype(np.int64)
    common = (bitmap_a[result.a_index] & bitmap_b[result.b_index]).sum(axis=1)
    sums = bitmap_a[result.a_index].sum(axis=1) + bitmap_b[result.b_index].sum(axis=1)
    assert np.array_equal(result.scores, (2.0 * common) / sums)
    keys = list(zip((-result.scores).tolist(), result.a_index.tolist(), result.b_index.tolist()))
    assert keys == sorted(keys)


def test_empty_inputs_give_empty_results_like_anonlink() -> None:
    some = rows(make_datasets(5, 1024, planted=0.0, seed=1)[0])
    for a_rows, b_rows in (([], some), (some, []), ([], [])):
        ours = candidate_pairs(pack(a_rows), pack(b_rows), 0.5)
        assert len(ours) == 0 and isinstance(ours, CandidatePairs)
        assert_identical(ours, anonlink_result(a_rows, b_rows, 0.5))


@pytest.mark.parametrize("threshold", [-1.0, 0.0, 1e-9, 0.5, 1.0, 1.5])
def test_all_zero_encodings_follow_anonlink(threshold: float) -> None:
    # anonlink scores a pair involving an all-zero encoding 0.0 (no 0/0), so such pairs
    # appear only when threshold <= 0.
    zero, full = bytes(128), b"\xff" * 128
    half = bits_set(128, range(0, 1024, 2))
    a_rows, b_rows = [zero, half, zero, full], [half, zero, full, zero]
    ours = candidate_pairs(pack(a_rows), pack(b_rows), threshold)
    assert_identical(ours, anonlink_result(a_rows, b_rows, threshold))
    if threshold <= 0:
        assert len(ours) == 16


def test_anonlink_popcount_pruning_quirk_is_reproduced() -> None:
    # At threshold 0.75 anonlink's pruning bound 2*3*(1/0.75 - 1) truncates to 1, so a
    # 3-bit A record is never compared with a 5-bit superset (score exactly 0.75), while
    # the mirrored pair (5-bit A, 3-bit B) is compared and kept.
    small, large = bits_set(8, range(3)), bits_set(8, range(5))
    forward = candidate_pairs(pack([small]), pack([large]), 0.75)
    backward = candidate_pairs(pack([large]), pack([small]), 0.75)
    assert len(forward) == 0
    assert backward.scores.tolist() == [0.75]
    assert_identical(forward, anonlink_result([small], [large], 0.75))
    assert_identical(backward, anonlink_result([large], [small], 0.75))


def test_tiny_threshold_overflow_quirk_is_reproduced() -> None:
    # For threshold 1e-16, anonlink's bound overflows for popcounts >= 462 and becomes 0:
    # only equal popcounts are compared.
    a_rows = [bits_set(128, range(500)), bits_set(128, range(100))]
    b_rows = [bits_set(128, range(500)), bits_set(128, range(501)), bits_set(128, range(300))]
    ours = candidate_pairs(pack(a_rows), pack(b_rows), 1e-16)
    assert_identical(ours, anonlink_result(a_rows, b_rows, 1e-16))
    assert sorted(zip(ours.a_index.tolist(), ours.b_index.tolist())) == [(0, 0), (1, 0), (1, 1), (1, 2)]


def test_64_bit_encodings_match_anonlink() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(60, 8), dtype=np.uint8)
    b = np.concatenate([a[:20] & rng.integers(0, 256, size=(20, 8), dtype=np.uint8), a[20:40]])
    for threshold in (0.0, 0.4, 0.8):
        ours = candidate_pairs(pack(a), pack(b), threshold)
        assert_identical(ours, anonlink_result(rows(a), rows(b), threshold))


def test_many_matches_per_block_are_all_returned() -> None:
    # Every A record near-duplicates every B record: far more matches than the first
    # pass keeps per block, so the overflow re-run is exercised.
    base = make_datasets(1, 1024, planted=0.0, seed=4)[0]
    a = np.repeat(base, 150, axis=0)
    b = np.repeat(base, 40, axis=0)
    ours = candidate_pairs(a, b, 0.9, threads=2)
    assert len(ours) == 150 * 40
    assert_identical(ours, anonlink_result(rows(a), rows(b), 0.9))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.sampled_from([1, 8]),
    n_a=st.integers(0, 9),
    n_b=st.integers(0, 9),
    densities=st.lists(st.sampled_from([0.0, 0.03, 0.2, 0.5, 0.9, 1.0]), min_size=18, max_size=18),
    shared=st.integers(0, 4),
    threshold=st.one_of(st.sampled_from([0.0, 0.5, 2 / 3, 0.75, 0.8, 1.0, -0.1, 1e-16]), st.floats(0.0, 1.0)),
    seed=st.integers(0, 2**32 - 1),
    threads=st.sampled_from([1, 2]),
)
def test_property_identical_to_anonlink(
    words: int, n_a: int, n_b: int, densities: list[float], shared: int, threshold: float, seed: int, threads: int
) -> None:
    rng = np.random.default_rng(seed)
    bits = words * 64

    def side(n: int, offset: int) -> np.ndarray:
        dens = np.array(densities[offset : offset + n])[:, None]
        return np.packbits(rng.random((n, bits)) < dens, axis=1)

    a, b = side(n_a, 0), side(n_b, 9)
    shared = min(shared, n_a, n_b)
    b[:shared] = a[:shared]  # identical records across the two sides
    ours = candidate_pairs(pack(rows(a)), pack(rows(b)), threshold, threads=threads)
    assert_identical(ours, anonlink_result(rows(a), rows(b), threshold))


def test_invalid_arguments_are_rejected_clearly() -> None:
    a = pack([bytes(128)])
    with pytest.raises(ValueError, match="threshold is NaN"):
        candidate_pairs(a, a, float("nan"))
    with pytest.raises(ValueError, match="1024 bits but dataset B encodings are 512 bits"):
        candidate_pairs(a, pack([bytes(64)]), 0.5)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        candidate_pairs(a, a, 0.5, threads=0)
    with pytest.raises(ValueError, match="exceeds"):
        candidate_pairs(a, a, 0.5, threads=10_000)


def test_to_anonlink_uses_anonlinks_array_types() -> None:
    pairs = CandidatePairs(np.array([0.9, 0.8]), np.array([3, 1]), np.array([0, 2]))
    sims, (d0, d1), (r0, r1) = pairs.to_anonlink()
    assert (sims.typecode, d0.typecode, r0.typecode) == ("d", "I", "I")
    assert list(sims) == [0.9, 0.8] and list(d0) == [0, 0] and list(d1) == [1, 1]
    assert list(r0) == [3, 1] and list(r1) == [0, 2]
    with pytest.raises(ValueError, match="differ in length"):
        CandidatePairs(np.array([0.9]), np.array([3, 1]), np.array([0, 2]))


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as info:
            match = re.search(r"^flags\s*:(.*)$", info.read(), re.MULTILINE)
    except OSError:
        return set()
    return set(match.group(1).split()) if match else set()


def test_kernel_compiles_to_hardware_popcount() -> None:
    from numba import njit, types

    from aidlink.matcher.similarity import dice

    flags = _cpu_flags()
    if "popcnt" not in flags:
        pytest.skip("CPU without popcnt")
    # A fresh, uncached compile of the vectorised kernel for 1024-bit encodings.
    kernel = njit(nogil=True)(dice._best_common.py_func)
    array = types.Array(types.uint64, 2, "C")
    kernel.compile((array, types.int64, array, types.int64, types.int64, types.UniTuple(types.int64, 16)))
    asm = "\n".join(kernel.inspect_asm().values())
    assert re.search(r"\bv?popcnt", asm)
    if "avx512_vpopcntdq" in flags:
        assert "vpopcntq" in asm


@pytest.mark.parametrize("bits", [128, 192, 1024])
def test_pairs_sharing_bits_only_past_the_first_half_are_found(bits: int) -> None:
    """The half-word bound rules tiles out from the first half of the words; pairs whose
    common bits all lie in the second half (or straddle it) must still come back, exactly."""
    rng = np.random.default_rng(11)
    n_bytes = bits // 8
    half_bits = (bits // 64 // 2) * 64
    a, b = [], []
    for k in range(200):
        upper = rng.choice(np.arange(half_bits, bits), size=(bits - half_bits) // 3, replace=False)
        lower = rng.choice(np.arange(0, half_bits), size=k % 7, replace=False) if half_bits else []
        a.append(bits_set(n_bytes, [*upper, *lower]))
        drop = set(rng.choice(upper, size=k % 5, replace=False).tolist())
        b.append(bits_set(n_bytes, [p for p in upper if p not in drop]))
    b += rows(make_datasets(200, bits, 0.0, 5)[1])
    for threshold in (0.7, 0.85, 0.95):
        assert_identical(candidate_pairs(pack(a), pack(b), threshold), anonlink_result(a, b, threshold))


def test_half_word_bound_compiles_to_hardware_popcount() -> None:
    from numba import njit, types

    from aidlink.matcher.similarity import dice

    if "avx512_vpopcntdq" not in _cpu_flags():
        pytest.skip("CPU without AVX-512 VPOPCNTDQ")
    kernel = njit(nogil=True)(dice._best_bound_pair.py_func)
    array = types.Array(types.uint64, 2, "C")
    vector = types.Array(types.int64, 1, "C")
    kernel.compile(
        (array, types.int64, vector, array, vector, types.int64, types.int64, types.UniTuple(types.int64, 8))
    )
    assert "vpopcntq" in "\n".join(kernel.inspect_asm().values())
