"""``aidlink audit …`` commands over a real log signed with the custodian's audit key."""

from __future__ import annotations

import argparse
import json
import sqlite3

import pytest

from aidlink.audit.checkpoint import open_checkpoint
from aidlink.audit.cli import register
from aidlink.audit.entry import AuditEntry
from aidlink.audit.log import AuditLog
from aidlink.audit.merkle import hash_leaf, verify_consistency, verify_inclusion
from aidlink.audit.note import NoteVerifier
from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.keys.audit_key import AuditSigningKey

ORIGIN = "aidlink.audit/cli-test"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="aidlink")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def world(tmp_path):
    """A matcher data dir with 30 entries on 2024-05-01 (UTC+8) and a checkpoint; the key files."""
    key = AuditSigningKey.create(tmp_path / "keys" / "audit.key")
    data = tmp_path / "data"
    log = AuditLog(SQLiteAuditStore(data / "audit.sqlite"), signing_key=key, origin=ORIGIN, checkpoint_interval=None)
    for i in range(30):
        dept = ("mca", "edu", "nhsa")[i % 3]
        log.append(
            AuditEntry(
                time=f"2024-05-01T{i % 12:02d}:{i:02d}:00.000000Z",
                method="/aidlink.v1.Matcher/QueryStatus",
                outcome="refused" if i % 5 == 0 else "allowed",
                status="PERMISSION_DENIED" if i % 5 == 0 else "OK",
                department=dept,
                identity=f"{dept}-node.example serial=1{i % 3}",
                purpose="eligibility-check" if i % 2 else "referral",
                agreement=f"agr-{dept}",
                datasets=(f"{dept}/roster",),
                counts={"found": i % 2},
            )
        )
    log.close()  # signs a last checkpoint, of size 30
    log = AuditLog(SQLiteAuditStore(data / "audit.sqlite"), checkpoint_interval=None)  # no key: no checkpoint
    log.append(
        AuditEntry(
            time="2024-05-01T12:00:00.000000Z",
            method="/aidlink.v1.Matcher/ListDatasets",
            outcome="allowed",
            status="OK",
            department="mca",
        )
    )
    log.close()
    return data, tmp_path / "keys" / "audit.pub.pem", key


def test_query_filters_combine(world, capsys):
    data, _, _ = world
    assert (
        run(
            "audit",
            "query",
            "--data-dir",
            str(data),
            "--department",
            "edu",
            "--outcome",
            "refused",
            "--format",
            "jsonl",
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in lines] == [10, 25]
    assert all(e["department"] == "edu" and e["outcome"] == "refused" for e in lines)

    run(
        "audit",
        "query",
        "--data-dir",
        str(data),
        "--purpose",
        "ELIGIBILITY_CHECK",
        "--dataset",
        "nhsa/roster",
        "--method",
        "QueryStatus",
        "--identity",
        "nhsa-node",
        "--format",
        "jsonl",
    )
    seqs = [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()]
    assert seqs == [i for i in range(30) if i % 3 == 2 and i % 2 == 1]

    # 2024-05-01 10:00 to 11:00 in UTC+8 is 02:00 to 03:00 UTC: entries 2, 14, 26 (hours i % 12 == 2)
    run(
        "audit",
        "query",
        "--data-dir",
        str(data),
        "--since",
        "2024-05-01T10:00",
        "--until",
        "2024-05-01T11:00",
        "--agreement",
        "agr-nhsa",
        "--format",
        "jsonl",
    )
    assert [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()] == [2, 14, 26]


def test_query_table_is_readable(world, capsys):
    data, _, _ = world
    assert run("audit", "query", "--data-dir", str(data), "--from-seq", "3", "--to-seq", "4") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "SEQ",
        "TIME",
        "DEPARTMENT",
        "IDENTITY",
        "METHOD",
        "PURPOSE",
        "OUTCOME",
        "STATUS",
        "DATASETS",
        "DETAIL",
    ]
    assert out[1].split()[:4] == ["3", "2024-05-01", "11:03:00", "mca"]  # shown in UTC+8
    assert "QueryStatus" in out[1] and out[-1] == "(2 entries)"


def test_tail_shows_the_newest(world, capsys):
    data, _, _ = world
    assert run("audit", "tail", "--data-dir", str(data), "-n", "2", "--format", "jsonl") == 0
    assert [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()] == [29, 30]


def test_verify_passes_then_names_a_changed_entry(world, capsys):
    data, pub, _ = world
    assert run("audit", "verify", "--data-dir", str(data), "--key", str(pub)) == 0
    assert "OK: every entry and checkpoint verifies" in capsys.readouterr().out
    conn = sqlite3.connect(data / "audit.sqlite")
    conn.execute("DROP TRIGGER audit_entries_no_update")
    conn.execute("UPDATE audit_entries SET body = replace(body, 'refused', 'allowed') WHERE seq = 20")
    conn.commit()
    conn.close()
    assert run("audit", "verify", "--data-dir", str(data), "--key", str(pub)) == 1
    out = capsys.readouterr().out
    assert "first entry that does not verify: 20" in out


def test_verify_rejects_checkpoints_under_another_key(world, capsys, tmp_path):
    data, _, _ = world
    other = AuditSigningKey.create(tmp_path / "other.key")
    assert run("audit", "verify", "--data-dir", str(data), "--key", str(tmp_path / "other.pub.pem")) == 1
    assert "not signed by the audit key" in capsys.readouterr().out
    del other


def test_checkpoint_prints_the_signed_note(world, capsys):
    data, pub, key = world
    assert run("audit", "checkpoint", "--data-dir", str(data), "--key", str(pub)) == 0
    note = capsys.readouterr().out.encode()
    cp = open_checkpoint(note, NoteVerifier.from_public_key(ORIGIN, key.public_key()), ORIGIN)
    assert cp.size == 30


def test_prove_inclusion_and_consistency(world, capsys):
    data, _, key = world
    verifier = NoteVerifier.from_public_key(ORIGIN, key.public_key())
    assert run("audit", "prove", "--data-dir", str(data), "--entry", "17") == 0
    proof = json.loads(capsys.readouterr().out)
    cp = open_checkpoint(proof["checkpoint"].encode(), verifier, ORIGIN)
    assert proof["tree_size"] == cp.size == 30
    store = SQLiteAuditStore(data / "audit.sqlite", read_only=True)
    body = next(r.body for r in store.scan(17))
    store.close()
    import base64

    decode = base64.b64decode
    verify_inclusion(hash_leaf(body), 17, cp.size, [decode(h) for h in proof["proof"]], cp.root)

    assert run("audit", "prove", "--data-dir", str(data), "--from-size", "9", "--to-size", "31") == 0
    c = json.loads(capsys.readouterr().out)
    verify_consistency(9, 31, [decode(h) for h in c["proof"]], decode(c["root1"]), decode(c["root2"]))

    assert run("audit", "prove", "--data-dir", str(data), "--entry", "40") == 2
    assert "entry 40 is not in a tree of 31 entries" in capsys.readouterr().err


def test_export_and_verify_bundle_round_trip(world, capsys, tmp_path):
    data, pub, _ = world
    out = tmp_path / "bundle.json"
    assert (
        run("audit", "export", "--data-dir", str(data), "--key", str(pub), "--out", str(out), "--department", "mca")
        == 0
    )
    printed = capsys.readouterr().out
    assert "wrote 10 entries" in printed and "1 matching entries are newer" in printed
    bundle = json.loads(out.read_text())
    assert bundle["verifier_key"].startswith(ORIGIN + "+")
    assert [e["seq"] for e in bundle["entries"]] == list(range(0, 30, 3))

    # Offline: only the bundle and the public key (here as the verifier key string).
    assert run("audit", "verify-bundle", str(out), "--key", bundle["verifier_key"]) == 0
    assert "OK: 10 entries (entries 0..27)" in capsys.readouterr().out
    assert run("audit", "verify-bundle", str(out), "--key", str(pub)) == 0
    capsys.readouterr()

    tampered = json.loads(out.read_text())
    tampered["entries"][4]["body"] = tampered["entries"][4]["body"].replace('"found":0', '"found":1')
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    assert run("audit", "verify-bundle", str(bad), "--key", str(pub)) == 1
    assert "entry 12 (bundle entry #4) is not in the log" in capsys.readouterr().out

    moved = json.loads(out.read_text())
    moved["entries"][1]["seq"] = 4
    bad.write_text(json.dumps(moved))
    assert run("audit", "verify-bundle", str(bad), "--key", str(pub)) == 1
    assert "body records position 3, not 4" in capsys.readouterr().out

    other = tmp_path / "other-key"
    AuditSigningKey.create(other / "audit.key")
    assert run("audit", "verify-bundle", str(out), "--key", str(other / "audit.pub.pem")) == 1
    assert "checkpoint does not verify" in capsys.readouterr().out


def test_report_counts_by_department_purpose_and_outcome(world, capsys):
    data, _, _ = world
    assert (
        run(
            "audit",
            "report",
            "--data-dir",
            str(data),
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-02",
            "--format",
            "json",
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == 31
    counts = {(c["department"], c["purpose"], c["outcome"]): c["count"] for c in report["counts"]}
    assert counts[("edu", "referral", "refused")] == 1  # entry 10
    assert counts[("edu", "eligibility-check", "refused")] == 1  # entry 25
    assert sum(n for (d, _, _), n in counts.items() if d == "mca") == 11
    assert run("audit", "report", "--data-dir", str(data), "--since", "2024-05-01", "--until", "2024-05-02") == 0
    text = capsys.readouterr().out
    assert "DEPARTMENT  PURPOSE" in text and "31 calls" in text


def test_missing_log_is_a_clear_error(tmp_path, capsys):
    assert run("audit", "verify", "--data-dir", str(tmp_path)) == 2
    assert f"no audit log at {tmp_path / 'audit.sqlite'}" in capsys.readouterr().err
