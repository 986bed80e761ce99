"""`aidlink bench kernel` runs end to end and checks identity with anonlink."""

from __future__ import annotations

import argparse
import io

import numpy as np
import pytest

from aidlink.bench import kernel


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aidlink bench")
    kernel.register(parser.add_subparsers(dest="bench_command", required=True))
    return parser.parse_args(["kernel", *argv])


def test_small_bench_reports_identical_results_for_every_implementation() -> None:
    args = _parse(["--n", "300", "--bits", "512", "--seed", "3"])
    assert (args.n, args.bits, args.threshold, args.threads, args.schema) == (300, 512, None, [1, 2], None)
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    text = out.getvalue()
    assert "300 x 300 records, 512 bits, threshold 0.8" in text
    assert "random vectors, 50% of B planted near-duplicates" in text
    assert "JIT warm-up" in text
    table = [line.split() for line in text.splitlines() if line.startswith(("anonlink ", "aidlink "))]
    assert [(row[0], row[-7]) for row in table] == [("anonlink", "1"), ("aidlink", "1"), ("aidlink", "2")]
    assert [row[-1] for row in table] == ["yes", "yes", "yes"]
    found = int(text.split(": ")[1].split()[0])
    assert found >= 140  # the 150 planted near-duplicates (a few may fall below 0.8)


@pytest.mark.parametrize(
    ("schema", "threshold", "density"),
    [
        ("chinese-person-v2.1", 0.72, (0.45, 0.55)),
        ("chinese-person-v2", 0.72, (0.45, 0.55)),
        ("chinese-person-v3", 0.8, (0.2, 0.4)),
    ],
)
def test_the_bench_runs_on_a_schemas_encodings_at_its_threshold(schema, threshold, density) -> None:
    """v2's diffusion leaves about half the bits of a present segment set (v3's bigram filters
    far fewer): the kernel is timed, and checked against anonlink, on such vectors."""
    args = _parse(["--n", "400", "--schema", schema, "--threads", "1", "--seed", "5"])
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    text = out.getvalue()
    assert f"{args.n} x {args.n} records, 1024 bits, threshold {threshold}" in text and args.n > 350
    assert f"{schema} encodings of two synthetic nhsa extracts" in text
    median = float(text.split("bits set per encoding: median ")[1].split()[0])
    assert density[0] < median < density[1]
    table = [line.split() for line in text.splitlines() if line.startswith(("anonlink ", "aidlink "))]
    assert [row[-1] for row in table] == ["yes", "yes"]
    found = int(text.split(": ")[1].split()[0])
    assert found > 100  # the two extracts share most of their people


def test_datasets_have_realistic_density_and_planted_pairs() -> None:
    a, b = kernel.make_datasets(200, 1024, planted=0.5, seed=1)
    assert a.shape == b.shape == (200, 128)
    density = np.unpackbits(a, axis=1).mean(axis=1)
    assert 0.15 < density.min() and density.max() < 0.40
    assert 0.25 < density.mean() < 0.30


def test_invalid_options_exit_with_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert kernel.run(_parse(["--bits", "1000"])) == 2
    assert "--bits must be a positive multiple of 64" in capsys.readouterr().err


def test_a_result_differing_from_anonlink_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = kernel.candidate_pairs

    def drops_best_pair(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        return type(result)(result.scores[1:], result.a_index[1:], result.b_index[1:])

    monkeypatch.setattr(kernel, "candidate_pairs", drops_best_pair)
    out = io.StringIO()
    assert kernel.run(_parse(["--n", "120", "--bits", "512", "--threads", "1"]), out=out) == 1
    assert "NO" in out.getvalue()
    assert "differ from anonlink's" in capsys.readouterr().err
