"""`aidlink demo` end to end on a small population: it runs, its downloads carry the Art. 26
notice, and it leaves no private key behind unless asked to keep them (issue 16)."""

from __future__ import annotations

from aidlink.cli.downloads import read_table
from aidlink.cli.main import main


def test_the_demo_runs_and_deletes_its_private_keys(tmp_path, capsys):
    workdir = tmp_path / "demo"
    workdir.mkdir()
    (workdir / "my-own.key").write_text("not the demo's")  # a file the demo did not write stays
    assert main(["demo", "--persons", "1500", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert "the Merkle log verifies" in out and "Done in" in out
    assert "cosigned by witness witness.loopback" in out  # a witness cosigned the last checkpoint
    # CA, matcher, nodes, systems, audit signing key: all gone; the user's own file is left alone
    assert list(workdir.rglob("*.key")) == [workdir / "my-own.key"]
    assert "Deleted the demo's" in out and "private keys" in out
    assert list(workdir.rglob("*.crt")) and (workdir / "matcher" / "data" / "audit.sqlite").exists()
    header, rows = read_table(workdir / "results" / "edu-students-in-low-income-households.csv")
    assert header[:2] == ["record_id", "score"] and rows


def test_keep_keys_keeps_them_and_says_where(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["demo", "--persons", "800", "--workdir", str(workdir), "--keep-keys"]) == 0
    assert "Private keys kept" in capsys.readouterr().out
    assert (workdir / "custody" / "ca" / "ca.key").exists()
