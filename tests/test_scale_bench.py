"""`aidlink bench scale` end to end at a tiny size (real gRPC on loopback); no timings asserted."""

from __future__ import annotations

import argparse
import re

import pytest

from aidlink.bench import scale


@pytest.mark.parametrize(("schema", "threshold"), [("v2.1", "0.72"), ("v2", "0.72"), ("v3", "0.8")])
def test_bench_scale_runs_the_whole_path_and_reports_completeness(capsys, schema, threshold):
    """Each schema at its calibrated threshold; v2's completeness is against the missing-aware join."""
    parser = argparse.ArgumentParser()
    scale.register(parser.add_subparsers())
    args = parser.parse_args(["scale", "--sizes", "400", "--workers", "1", "--schema", schema])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"N=400 ({schema}, threshold {threshold})" in out
    assert "compare over gRPC" in out and "peak RSS MiB" in out
    found, total = map(lambda s: int(s.replace(",", "")), re.search(r"completeness ([\d,]+)/([\d,]+)", out).groups())
    assert total > 300 and found >= 0.99 * total
    assert int(re.search(r"progress events (\d+)", out).group(1)) >= 1
    truth = re.search(
        r"against the truth .*?: ([\d,]+) same-person pairs; ([\d,]+) score >= [\d.]+ .*?the blocked join finds "
        r"([\d,]+) .*?of the ([\d,]+) pairs it misses, ([\d,]+) are one person",
        out,
    )
    pairs, above, blocked, missed, missed_true = (int(g.replace(",", "")) for g in truth.groups())
    assert pairs > 300 and blocked <= above <= pairs and missed_true <= missed == total - found


def test_pairs_are_judged_by_the_generators_truth():
    """A pair the blocked join misses counts as a lost true match only when both rows are one
    person; same-person pairs below the threshold count against the threshold, not the blocking."""
    import numpy as np

    persons = [["p1", "p2", "p3", "p4"], ["p2", "p1", "x", "p4", "p3"]]
    exhaustive = {(0, 1): 0.9, (1, 0): 0.8, (2, 2): 0.75, (3, 3): 0.95}  # (2, 2): two people
    blocked = {(0, 1): 0.9, (3, 3): 0.95}  # misses (1, 0), one person, and (2, 2), coincidental
    got = scale._against_truth(persons, np.array([0, 1, 2, 3]), exhaustive, blocked)
    # p3's pair (2, 4) never reached the threshold: a same-person pair, not found by either join
    assert got == {"true_pairs": 4, "true_above_threshold": 3, "true_found": 2, "missed": 2, "missed_true": 1}
    only_first_rows = scale._against_truth(persons, np.array([0, 2]), {(0, 1): 0.9, (2, 2): 0.75}, blocked)
    assert only_first_rows == {
        "true_pairs": 2,
        "true_above_threshold": 1,
        "true_found": 1,
        "missed": 1,
        "missed_true": 0,
    }
