"""The node's record pipeline: one row-to-record path for the online upload and the offline
bundle. The same rows through a real node over mTLS (what the matcher stored) and through
the bundle export (what the sealed bundle carries) give the same record for every record id;
a bad row is refused naming its row and field, and the good rows after it still go."""

from __future__ import annotations

from datetime import date

import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.bundle import export_dataset_bundle, open_bundle
from aidlink.gateway.client import submit_rows
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.match_batches import RemoteMatchBatch, attribute_rows
from aidlink.gateway.matcher_client import CompareProgress, CompareSummary, MatcherClient, RemoteMatch
from aidlink.gateway.pipeline import PreparedRecord, RecordPipeline, RefusedRow, RowProblem
from aidlink.gateway.synthetic import SyntheticPopulation, department_extract
from aidlink.matcher.similarity.blocking import NO_KEY, token_key
from aidlink.v1 import bundle_pb2, common_pb2, gateway_pb2, matcher_pb2_grpc

MCA_ATTRS = ["category", "dispersed", "school_age", "household"]
SECRET = b"pipeline-test-secret-0123456789"


def with_bad_rows(rows):
    """The extract with rows a department really sends: refused ones and flagged-but-kept ones."""
    good = list(rows)
    return [
        dict(good[0], rec_id="BAD-DATE", id_number="", birth_date="1990-13-45"),  # refused: birth_date
        *good[:10],
        dict(good[10], rec_id=""),  # refused: rec_id
        dict(good[11], rec_id=good[0]["rec_id"]),  # refused: duplicate id
        dict(good[12], rec_id="BAD-PHONE", phone="12"),  # kept, phone flagged
        dict(
            good[13],
            rec_id="BAD-CHECK",
            id_number=good[13]["id_number"][:17] + ("0" if good[13]["id_number"][17] != "0" else "1"),
        ),  # kept, check char flagged
        *good[14:],
    ]


@pytest.fixture(scope="module")
def both_paths(tmp_path_factory):
    population = SyntheticPopulation.generate(1500, seed=21)
    rows = with_bad_rows(department_extract(population, "mca", seed=21).rows)
    edu_rows = department_extract(population, "edu", seed=21).rows
    root = tmp_path_factory.mktemp("pipeline")
    with LoopbackDeployment(root, departments=("mca", "edu")) as d:
        node = d.nodes["mca"]
        summary = submit_rows(
            node.stub,
            gateway_pb2.SubmitHeader(
                dataset="low-income", catalog_entry="mca.low-income", catalog_version="2023.1", attributes=MCA_ATTRS
            ),
            rows,
        )
        refs = node.server.refs
        stored = d.matcher.store.load(d.matcher.store.latest("mca", "low-income"))
        online = {}
        for i, ref in enumerate(stored.refs):
            keys = set() if stored.blocking is None else {int(k) for k in stored.blocking.keys[i] if k != NO_KEY}
            online[refs.resolve(ref)] = (bytes(stored.encodings[i]), keys, stored.attributes[i])

        tls = d.root / "matcher" / "tls"
        exported = export_dataset_bundle(
            node.server.node,
            "low-income-offline",
            "mca.low-income",
            "2023.1",
            rows,
            attributes=MCA_ATTRS,
            key_pem=(node.directory / "node.key").read_bytes(),
            cert_pem=(node.directory / "node.crt").read_bytes(),
            matcher_cert_pem=(tls / "matcher.crt").read_bytes(),
        )
        opened = open_bundle(
            exported.blob,
            kind="dataset",
            recipient_key_pem=(tls / "matcher.key").read_bytes(),
            recipient_cert_pem=(tls / "matcher.crt").read_bytes(),
            ca_cert_pem=d.ca.cert_pem,
        )
        bundle = bundle_pb2.DatasetBundle()
        bundle.ParseFromString(opened.payload)
        offline = {
            refs.resolve(r.ref): (r.encoding, {token_key(t) for t in r.blocking_keys}, dict(r.attributes))
            for r in bundle.records
        }
        yield {
            "rows": rows,
            "summary": summary,
            "online": online,
            "exported": exported,
            "offline": offline,
            "bundle": bundle,
            "info": node.server.node.encoding_info,
            "deployment": d,
            "edu_rows": edu_rows,
        }


def test_online_upload_and_bundle_export_carry_the_same_records(both_paths):
    online, offline = both_paths["online"], both_paths["offline"]
    # Positive controls: real records, with tokens and a household pseudonym, not empty shells.
    assert len(online) == both_paths["summary"].uploaded == len(both_paths["rows"]) - 3
    assert all(keys for _, keys, _ in online.values())
    assert sum(bool(attrs["household"]) for _, _, attrs in online.values()) > len(online) // 2
    assert {"BAD-PHONE", "BAD-CHECK"} <= online.keys() and "BAD-DATE" not in online
    assert offline.keys() == online.keys()
    differing = [rid for rid in online if online[rid] != offline[rid]]
    assert differing == [], f"{len(differing)} records differ between the paths, e.g. {differing[:3]}"
    header = both_paths["bundle"].header
    assert list(header.attributes) == MCA_ATTRS and header.encoding == both_paths["info"]


def test_both_paths_report_the_same_problems(both_paths):
    summary, exported = both_paths["summary"], both_paths["exported"]
    online = [(p.row, p.record_id, p.field, p.reason, p.kept) for p in summary.problems]
    offline = [(p.row, p.record_id, p.field, p.reason, p.kept) for p in exported.problems]
    assert online == offline and summary.problem_count == len(offline)
    assert exported.rows == summary.rows == len(both_paths["rows"])
    assert exported.records == summary.uploaded
    refused = {(p.row, p.record_id, p.field) for p in exported.problems if not p.kept}
    assert {(1, "BAD-DATE", "birth_date"), (12, "", "rec_id")} <= refused
    duplicate = both_paths["rows"][12]["rec_id"]
    assert (13, duplicate, "rec_id") in refused
    kept = {(p.row, p.record_id, p.field) for p in exported.problems if p.kept}
    assert {(14, "BAD-PHONE", "phone"), (15, "BAD-CHECK", "id_number")} <= kept


def test_matcher_client_streams_batches_and_reads_answers_over_mtls(both_paths):
    d = both_paths["deployment"]
    server = d.nodes["edu"].server
    pipeline = server.node.pipeline
    client = MatcherClient(matcher_pb2_grpc.MatcherStub(server.channel), pipeline.parameters, batch=7)
    rows = both_paths["edu_rows"]
    prepared = pipeline.dataset(rows, tag=server.refs.new_tag(), attributes=["assistance"])
    batches = []
    outcome = client.upload(
        "batched",
        "edu.students",
        "2023.1",
        ["assistance"],
        prepared,
        after_batch=lambda: batches.append(len(prepared.record_ids)),
    )
    assert outcome.dataset == "edu/batched" and outcome.rejected == ()
    assert (
        outcome.accepted
        == len(prepared.record_ids)
        == prepared.rows - len({p.row for p in prepared.problems if not p.kept})
        > 100
    )
    assert batches == list(range(7, len(prepared.record_ids) + 1, 7))  # after each full batch of 7
    events = list(client.compare("batched", "mca/low-income", common_pb2.ELIGIBILITY_CHECK))
    summary = events[-1]
    assert isinstance(summary, CompareSummary) and summary.agreement == "art14-1a.mca-to-edu"
    assert any(isinstance(e, CompareProgress) for e in events)
    assert not [e for e in events if isinstance(e, RemoteMatch)]  # a batching matcher sends batches
    batches = [e.message for e in events if isinstance(e, RemoteMatchBatch)]
    matches = [(ref, attrs) for b in batches for ref, attrs in zip(b.my_refs, attribute_rows(b))]
    assert 0 < len(matches) == summary.matches and summary.my_records == outcome.accepted
    assert all(ref.count(".") == 1 and attrs for ref, attrs in matches)  # references, never record ids
    record = next(r for r in pipeline.records(rows, tag="probe") if isinstance(r, PreparedRecord))
    answer = client.query_status("mca/low-income", record.encoding, common_pb2.ELIGIBILITY_CHECK)
    assert answer.agreement == "art14-1a.mca-to-edu" and 0.0 <= answer.score <= 1.0


def test_a_bad_row_names_row_and_field_and_the_good_rows_still_go():
    population = SyntheticPopulation.generate(300, seed=4)
    good = department_extract(population, "mca", seed=4).rows[:4]
    rows = [good[0], dict(good[1], birth_date="2001-02-30", id_number=""), dict(good[2], name=""), good[3]]
    pipeline = RecordPipeline(LinkageSchema.default_chinese(), SECRET, 3, today=lambda: date(2025, 6, 30))
    items = list(pipeline.records(rows, tag="t9", attributes=["category", "school_age"], row_numbers=[2, 5, 7, 11]))
    assert [type(i) for i in items] == [PreparedRecord, RefusedRow, RefusedRow, PreparedRecord]
    assert items[1].problems == (RowProblem(5, good[1]["rec_id"], "birth_date", items[1].problems[0].reason),)
    assert "2001-02-30" in items[1].problems[0].reason
    assert [(p.row, p.field, p.kept) for p in items[2].problems] == [(7, "name", False)]
    # The good rows after the bad ones are prepared, referenced in order of the records sent.
    assert [(r.row, r.record_id, r.ref) for r in (items[0], items[3])] == [
        (2, good[0]["rec_id"], "t9.0"),
        (11, good[3]["rec_id"], "t9.1"),
    ]
    assert items[3].attributes["category"] == good[3]["category"]
    assert items[3].attributes["school_age"] in ("yes", "no") and items[3].blocking_tokens
    assert len(items[3].encoding) * 8 == pipeline.parameters.bits == 1024
    assert pipeline.parameters.secret_version == 3


def test_the_pipeline_is_deterministic_and_keyed():
    population = SyntheticPopulation.generate(300, seed=4)
    row = department_extract(population, "mca", seed=4).rows[0]
    schema = LinkageSchema.default_chinese()
    first = RecordPipeline(schema, SECRET, 1).prepare(row, attributes=["household"])
    again = RecordPipeline(schema, SECRET, 1).prepare(row, attributes=["household"])
    other = RecordPipeline(schema, b"another-secret-0123456789abcdef", 1).prepare(row, attributes=["household"])
    assert first == again
    assert other.encoding != first.encoding
    assert not set(other.blocking_tokens) & set(first.blocking_tokens)
    assert other.attributes["household"] != first.attributes["household"] != row["household_id"]
