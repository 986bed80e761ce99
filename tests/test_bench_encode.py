"""`aidlink bench encode` runs end to end on a small extract and checks its own outputs."""

from __future__ import annotations

from aidlink.cli.main import main


def test_bench_encode_compares_fast_plain_and_processes(capsys) -> None:
    code = main(["bench", "encode", "--records", "600", "--processes", "1", "2", "--chunk", "100"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("fast path equal: yes") == 3  # v3, v2 and v2.1 (salted features: the plain path too)
    assert "aidlink fast path, 2 processes" in out and "records per CPU-second" in out
    assert out.count("per process: parent ") == 8 and out.count("; child 1 ") == 4 and "parent's CPU share" in out
    assert out.startswith("start: load average") and "end: load average" in out
    assert "clkhash: skipped (pass --clkhash-python" in out
    assert "RecordPipeline.encode_rows, 2 processes" in out
    assert out.rstrip().endswith("all outputs equal")


def test_bench_encode_refuses_zero_processes(capsys) -> None:
    assert main(["bench", "encode", "--processes", "0"]) == 2
    assert "--processes and --chunk must be at least 1" in capsys.readouterr().err
