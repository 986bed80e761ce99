"""Two extracts with a controllable overlap, for linkage-quality evaluation."""

from __future__ import annotations

import pytest

from aidlink.gateway.synthetic import CorruptionProfile, SyntheticPopulation, linkage_pair


@pytest.fixture(scope="module")
def population():
    return SyntheticPopulation.generate(800, seed=4)


@pytest.mark.parametrize("overlap, shared", [(0.0, 0), (0.25, 100), (1.0, 400)])
def test_overlap_controls_the_shared_persons(population, overlap, shared) -> None:
    a, b = linkage_pair(population, 400, overlap=overlap, seed=1)
    assert len(a.rows) == len(b.rows) == 400
    assert len(set(a.truth.values()) & set(b.truth.values())) == shared
    assert len(set(a.truth.values())) == 400  # nobody twice on one side


def test_same_seed_same_extracts_and_sides_are_corrupted_independently(population) -> None:
    a1, b1 = linkage_pair(population, 300, overlap=1.0, seed=2)
    a2, _ = linkage_pair(population, 300, overlap=1.0, seed=2)
    assert a1.rows == a2.rows
    by_person_b = {b1.truth[r["rec_id"]]: r for r in b1.rows}
    differing = sum(r != {**by_person_b[a1.truth[r["rec_id"]]], "rec_id": r["rec_id"]} for r in a1.rows)
    assert differing > 100


def test_no_corruption_writes_identical_rows(population) -> None:
    a, b = linkage_pair(population, 200, overlap=1.0, seed=3, corruption=CorruptionProfile.none())
    by_person_b = {b.truth[r["rec_id"]]: {k: v for k, v in r.items() if k != "rec_id"} for r in b.rows}
    assert all({k: v for k, v in r.items() if k != "rec_id"} == by_person_b[a.truth[r["rec_id"]]] for r in a.rows)


@pytest.mark.parametrize(
    "n, overlap, message",
    [(400, 1.5, "overlap must be between 0 and 1"), (420, 0.0, "needs 840 persons; the population has 800")],
)
def test_impossible_requests_are_refused(population, n, overlap, message) -> None:
    with pytest.raises(ValueError, match=message):
        linkage_pair(population, n, overlap=overlap, seed=1)


def test_the_hard_profile_corrupts_over_a_third_of_rows_and_blanks_40_percent_of_bs_ids() -> None:
    from aidlink.bench.quality.task import synthetic_task

    task = synthetic_task(1500, seed=3, overlap=0.5, profile_name="hard")
    assert task.corrupted is not None and min(task.corrupted) >= 0.35
    blank_a = sum(not r["id_number"] for r in task.rows_a) / len(task.rows_a)
    blank_b = sum(not r["id_number"] for r in task.rows_b) / len(task.rows_b)
    assert blank_a < 0.1 and 0.36 <= blank_b <= 0.44  # 40% of B's, drawn per row
    default = synthetic_task(1500, seed=3, overlap=0.5)
    assert default.corrupted is not None and max(default.corrupted) < 0.2
    with pytest.raises(ValueError, match="unknown corruption profile 'harsh'"):
        synthetic_task(10, seed=3, overlap=0.5, profile_name="harsh")
