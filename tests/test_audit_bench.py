"""`aidlink bench audit` runs end to end on tiny sizes (numbers are not asserted: never timed tests)."""

from __future__ import annotations

import argparse

from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.bench import audit as bench_audit


def test_bench_appends_stores_every_entry(tmp_path):
    rate, per_commit = bench_audit.bench_appends(64, 4, tmp_path)
    assert rate > 0 and per_commit >= 1
    store = SQLiteAuditStore(tmp_path / "appends-4.sqlite", read_only=True)
    assert [r.seq for r in store.scan()] == list(range(64))
    store.close()


def test_bench_command_compares_audited_and_unaudited_matchers(capsys):
    parser = argparse.ArgumentParser()
    bench_audit.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "audit",
            "--appends",
            "16",
            "--threads",
            "1",
            "4",
            "--calls",
            "40",
            "--clients",
            "2",
            "--rounds",
            "1",
            "--query",
            "list",
        ]
    )
    status = args.func(args)
    out = capsys.readouterr().out
    assert status in (0, 1)  # 1 only when the 20 % target is missed
    assert "(a) durable audited appends" in out and "(b) matcher ListDatasets" in out
    assert "audited/unaudited = " in out
    assert "42 audit entries written" in out  # 2 warm-up calls + 40 audited calls, each recorded


def test_bench_status_queries_search_an_uploaded_dataset(capsys):
    parser = argparse.ArgumentParser()
    bench_audit.register(parser.add_subparsers())
    args = parser.parse_args(
        ["audit", "--skip-appends", "--calls", "20", "--clients", "2", "--rounds", "1", "--records", "300"]
    )
    assert args.func(args) in (0, 1)
    out = capsys.readouterr().out
    assert "QueryStatus against a 300-record dataset" in out
    assert "23 audit entries written" in out  # the upload, 2 warm-up calls and 20 audited queries
