"""Officer screens cannot be forged. Over real mTLS, dataset names and record refs holding ANSI
escapes, newlines or bidi overrides are refused at upload, naming the characters (escaped); and what
reaches the audit log anyway (a compare naming such a dataset, kept in its entry) is shown escaped
by `aidlink audit tail`, as a table and as JSON lines, so each entry stays one line and no
character reaches the officer's terminal raw."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from aidlink.cli.main import main
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

WAIT_S = 60  # guards against a hang only
INFO = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint="test")
FORGED = {  # what a hostile name does on a terminal, and the escape an officer sees instead
    "ansi": ("evil\x1b[2J\x1b[32mOK", "evil\\u001b[2J\\u001b[32mOK"),
    "newline": ("x\n42  2026-01-01 00:00:00  mca  fake", "x\\u000a42  2026-01-01 00:00:00  mca  fake"),
    "carriage return": ("x\rmca", "x\\u000dmca"),
    "bidi override": ("data\u202etxt.exe", "data\\u202etxt.exe"),
    "bidi isolate": ("a\u2067b\u2069", "a\\u2067b\\u2069"),
}
RAW = ("\x1b", "\n", "\r", "\u202e", "\u2067", "\u2069")


def node_channel(deployment, department: str) -> grpc.Channel:
    d = deployment.root / "nodes" / department
    creds = grpc.ssl_channel_credentials(
        deployment.ca.cert_pem, (d / "node.key").read_bytes(), (d / "node.crt").read_bytes()
    )
    return grpc.secure_channel(deployment.matcher.address, creds)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with LoopbackDeployment(tmp_path_factory.mktemp("officer-output"), departments=()) as deployment:
        deployment.node_dir("nhsa")
        yield deployment


def upload(stub, dataset: str, refs: list[str]):
    rows = np.packbits(np.random.default_rng(1).random((len(refs), 1024)) < 0.3, axis=1)

    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=dataset, catalog_entry="nhsa.medical", catalog_version="2023.1", encoding=INFO
            )
        )
        yield matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(
                records=[matcher_pb2.EncodedRecord(ref=r, encoding=e.tobytes()) for r, e in zip(refs, rows)]
            )
        )

    return stub.UploadDataset(chunks(), timeout=WAIT_S)


@pytest.mark.parametrize("kind", sorted(FORGED))
def test_a_dataset_name_that_would_forge_a_screen_is_refused_at_upload(deployment, kind):
    name, _ = FORGED[kind]
    with node_channel(deployment, "nhsa") as ch:
        with pytest.raises(grpc.RpcError) as err:
            upload(matcher_pb2_grpc.MatcherStub(ch), name, ["r1"])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = err.value.details()
    assert detail.startswith("header.dataset: the dataset name holds characters that cannot be shown"), detail
    assert not any(c in detail for c in RAW), repr(detail)
    bad = next(c for c in name if c in RAW)
    assert f"\\u{ord(bad):04x}" in detail


def test_refs_that_would_forge_a_screen_are_refused_and_reported_escaped(deployment):
    refs = ["good-1", "bad\x1b[31m", "bad\nline", "bad\u202eright", "good-2"]
    with node_channel(deployment, "nhsa") as ch:
        summary = upload(matcher_pb2_grpc.MatcherStub(ch), "refs-checked", refs)
    assert summary.accepted == 2 and summary.rejected_count == 3
    refused = {(p.index, p.field) for p in summary.rejected}
    assert refused == {(1, "ref"), (2, "ref"), (3, "ref")}
    for p in summary.rejected:
        assert "cannot be shown" in p.reason and not any(c in p.ref + p.reason for c in RAW), p


def test_audit_tail_shows_hostile_names_escaped_one_line_per_entry(deployment, capsys, monkeypatch):
    monkeypatch.delenv("AIDLINK_DATABASE_URL", raising=False)
    hostile = [name for name, _ in FORGED.values()]
    with node_channel(deployment, "nhsa") as ch:
        stub = matcher_pb2_grpc.MatcherStub(ch)
        for name in hostile:  # each compare is refused, and its entry keeps the names it was asked about
            with pytest.raises(grpc.RpcError):
                list(
                    stub.CompareDatasets(
                        matcher_pb2.CompareRequest(
                            my_dataset=name, other_dataset="mca/x", purpose=common_pb2.ELIGIBILITY_CHECK
                        ),
                        timeout=WAIT_S,
                    )
                )
    entries = deployment.audit_entries()[-len(hostile) :]
    assert [e.datasets[0] for e in entries] == hostile  # the log keeps what was asked, as evidence

    data_dir = str(deployment.matcher.config.data_dir)
    capsys.readouterr()
    assert main(["audit", "tail", "--data-dir", data_dir, "-n", str(len(hostile))]) == 0
    table = capsys.readouterr().out
    lines = table.rstrip("\n").split("\n")
    assert not any(c in line for line in lines for c in RAW), repr(table)
    assert len(lines) == 1 + len(hostile), lines  # a header and one line per entry: no forged rows
    for line, (_, shown) in zip(lines[1:], FORGED.values()):
        assert shown in line, (shown, line)

    assert main(["audit", "tail", "--data-dir", data_dir, "-n", str(len(hostile)), "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert len(lines) == len(hostile) and not any(c in line for line in lines for c in RAW), lines
    decoded = [json.loads(line) for line in lines]
    assert [d["datasets"][0] for d in decoded] == hostile  # still valid JSON, decoding to what was stored


def test_the_one_escaping_function_keeps_printable_text_and_escapes_every_control_and_bidi_character():
    from aidlink.audit.officer_text import escape_for_officer  # here: the other tests run on any version

    assert escape_for_officer("低保 mca/low-income 2026") == "低保 mca/low-income 2026"
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0x200E, 0x200F, 0x061C]:
        assert escape_for_officer(f"a{chr(code)}b") == f"a\\u{code:04x}b"
    for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]:
        assert escape_for_officer(chr(code)) == f"\\u{code:04x}"
