"""`aidlink bench scale` end to end at a tiny size (real gRPC on loopback); no timings asserted."""

from __future__ import annotations

import argparse
import re

import pytest

from aidlink.bench import scale


@pytest.mark.parametrize(("schema", "threshold"), [("v2", "0.72"), ("v3", "0.8")])
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
