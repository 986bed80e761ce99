"""`aidlink bench scale` end to end at a tiny size (real gRPC on loopback); no timings asserted."""

from __future__ import annotations

import argparse
import re

from aidlink.bench import scale


def test_bench_scale_runs_the_whole_path_and_reports_completeness(capsys):
    parser = argparse.ArgumentParser()
    scale.register(parser.add_subparsers())
    args = parser.parse_args(["scale", "--sizes", "400", "--workers", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "N=400" in out and "compare over gRPC" in out and "peak RSS MiB" in out
    found, total = map(lambda s: int(s.replace(",", "")), re.search(r"completeness ([\d,]+)/([\d,]+)", out).groups())
    assert total > 300 and found >= 0.99 * total
    assert int(re.search(r"progress events (\d+)", out).group(1)) >= 1
