"""End to end over real gRPC on loopback with real mTLS: department systems call
their gateway nodes with raw rows; nodes encode and upload; the matcher compares
under agreements and purposes and audits every call."""

from __future__ import annotations

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.v1 import common_pb2, gateway_pb2, matcher_pb2, matcher_pb2_grpc

LOW_INCOME = {"dibao", "tekun", "bianyuan", "zhichu"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("e2e")
    population = SyntheticPopulation.generate(4000, seed=11)
    extracts = {d: department_extract(population, d, seed=11) for d in ("mca", "edu", "nhsa")}
    with LoopbackDeployment(root, database_url=matcher_database_url) as deployment:
        uploads = {}
        for dept, dataset, entry, attrs in (
            ("mca", "low-income", "mca.low-income", ["category", "dispersed", "school_age"]),
            ("edu", "students", "edu.students", ["school_stage", "assistance"]),
            ("nhsa", "medical", "nhsa.medical", ["serious_illness", "high_cost", "medical_assistance"]),
        ):
            header = gateway_pb2.SubmitHeader(
                dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs
            )
            uploads[dept] = submit_rows(deployment.nodes[dept].stub, header, extracts[dept].rows)
        yield deployment, population, extracts, uploads


def compare(deployment, dept, mine, other, purpose=common_pb2.ELIGIBILITY_CHECK, **kw):
    events = list(
        deployment.nodes[dept].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(my_dataset=mine, other_dataset=other, purpose=purpose, **kw)
        )
    )
    return (
        [m for e in events for m in local_matches(e)],
        [e.summary for e in events if e.WhichOneof("event") == "summary"],
    )


def test_uploads_accept_every_valid_row(world):
    _, _, extracts, uploads = world
    for dept, summary in uploads.items():
        assert summary.rows == len(extracts[dept].rows)
        refused_rows = {p.row for p in summary.problems if not p.kept}
        assert summary.uploaded + len(refused_rows) == summary.rows
        assert summary.uploaded >= 0.97 * summary.rows, (dept, list(summary.problems)[:5])
        assert summary.dataset.startswith(dept + "/")


def test_edu_learns_which_of_its_students_are_low_income(world):
    deployment, population, extracts, _ = world
    matches, [summary] = compare(deployment, "edu", "students", "mca/low-income")
    edu_ids = set(extracts["edu"].truth)
    # Only the caller's own record ids come back, with only what the agreement returns.
    assert {m.record_id for m in matches} <= edu_ids
    assert all(set(m.attributes) <= {"category"} for m in matches)
    assert summary.agreement == "art14-1a.mca-to-edu"
    assert "not legal data" in summary.notice.text
    # Compare with the ground truth: the students who are school-age members of low-income households.
    mca_people = {}
    for row in extracts["mca"].rows:
        mca_people[extracts["mca"].truth[row["rec_id"]]] = row["category"]
    expected = {rid for rid, pid in extracts["edu"].truth.items() if mca_people.get(pid) in LOW_INCOME}
    found = {m.record_id for m in matches}
    true_pos = found & expected
    assert expected, "the generated world should have low-income students"
    assert len(true_pos) >= 0.9 * len(expected)
    assert len(true_pos) >= 0.97 * len(found)
    for m in matches:
        if m.record_id in expected:
            assert m.attributes["category"] == mca_people[extracts["edu"].truth[m.record_id]]


def test_mca_gets_medical_flags_back(world):
    deployment, _, extracts, _ = world
    matches, [summary] = compare(
        deployment, "mca", "low-income", "nhsa/medical", purpose=common_pb2.POLICY_DELIVERY_CHECK
    )
    assert summary.agreement == "art14-4b.nhsa-to-mca"
    assert matches and {m.record_id for m in matches} <= set(extracts["mca"].truth)
    assert all(set(m.attributes) == {"serious_illness", "high_cost", "medical_assistance"} for m in matches)


def test_refusals_are_clear_and_audited(world):
    deployment, _, _, _ = world
    with pytest.raises(grpc.RpcError) as denied:
        compare(deployment, "edu", "students", "nhsa/medical")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no sharing agreement lets edu use nhsa's nhsa.medical" in denied.value.details()
    with pytest.raises(grpc.RpcError) as no_purpose:
        compare(deployment, "edu", "students", "mca/low-income", purpose=common_pb2.PURPOSE_UNSPECIFIED)
    assert no_purpose.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "purpose" in no_purpose.value.details()
    with pytest.raises(grpc.RpcError) as wrong_purpose:
        compare(deployment, "edu", "students", "mca/low-income", purpose=common_pb2.RISK_MONITORING)
    assert wrong_purpose.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "does not allow purpose 'risk-monitoring'" in wrong_purpose.value.details()
    with pytest.raises(grpc.RpcError) as missing:
        compare(deployment, "edu", "students", "mca/nonexistent")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "mca/nonexistent" in missing.value.details()
    entries = deployment.audit_entries()
    refused = [e for e in entries if e.outcome == "refused" and e.department == "edu"]
    assert any(e.status == "PERMISSION_DENIED" and "nhsa/medical" in e.datasets for e in refused)
    assert any(e.status == "INVALID_ARGUMENT" for e in refused)
    assert any(e.status == "NOT_FOUND" for e in refused)
    allowed = [e for e in entries if e.outcome == "allowed" and e.method.endswith("CompareDatasets")]
    assert allowed and all(e.agreement and e.purpose for e in allowed)
    # the server is still serving after the refusals
    compare(deployment, "edu", "students", "mca/low-income")


def test_bad_rows_are_reported_and_good_rows_kept(world):
    deployment, _, extracts, _ = world
    from aidlink.gateway.normalize.issues import RowRejected
    from aidlink.gateway.normalize.person import normalize_person

    def valid(row):
        try:
            return bool(normalize_person(row))
        except RowRejected:
            return False

    good = [r for r in extracts["edu"].rows if valid(r)][:20]
    bad_id = dict(good[0], rec_id="BAD-1", id_number="110101199003071235")  # wrong check character
    bad_date = dict(good[1], rec_id="BAD-2", birth_date="1990-13-45", id_number="")
    no_id = dict(good[2], rec_id="")
    header = gateway_pb2.SubmitHeader(
        dataset="students-partial", catalog_entry="edu.students", catalog_version="2023.1", attributes=["assistance"]
    )
    summary = submit_rows(deployment.nodes["edu"].stub, header, [bad_id, *good[3:], bad_date, no_id])
    # A wrong check character alone is flagged and the row kept (a typo must not lose the person);
    # an impossible date or a missing record id refuses the row. Every problem is named.
    assert summary.uploaded == 18 and summary.rows_flagged >= 1
    problems = {(p.record_id, p.field, p.kept) for p in summary.problems}
    assert ("BAD-1", "id_number", True) in problems
    assert ("BAD-2", "birth_date", False) in problems
    assert ("", "rec_id", False) in problems
    assert "check character" in next(p.reason for p in summary.problems if p.record_id == "BAD-1")
    rows = {p.record_id: p.row for p in summary.problems}
    assert rows["BAD-1"] == 1 and rows["BAD-2"] == 19


def test_attribute_outside_catalog_is_refused_naming_it(world):
    deployment, _, extracts, _ = world
    header = gateway_pb2.SubmitHeader(
        dataset="students-x",
        catalog_entry="edu.students",
        catalog_version="2023.1",
        attributes=["assistance", "home_income"],
    )
    with pytest.raises(grpc.RpcError) as err:
        submit_rows(deployment.nodes["edu"].stub, header, extracts["edu"].rows[:5])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "home_income" in err.value.details() and "edu.students" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        submit_rows(
            deployment.nodes["edu"].stub,
            gateway_pb2.SubmitHeader(dataset="x", catalog_entry="mca.low-income", catalog_version="2023.1"),
            extracts["edu"].rows[:5],
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "provided by mca, not by edu" in err.value.details()


def test_check_one_person(world):
    deployment, _, extracts, _ = world
    row = next(r for r in extracts["mca"].rows if r["category"] == "dibao")
    fields = {k: row[k] for k in ("name", "id_number", "birth_date", "sex", "phone", "address")}
    answer = deployment.nodes["nhsa"].stub.CheckPerson(
        gateway_pb2.CheckPersonRequest(fields=fields, dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK)
    )
    assert answer.found and answer.attributes["category"] == "dibao"
    assert answer.agreement == "art14-4a.mca-to-nhsa" and "Art. 26" in answer.notice.text
    stranger = dict(
        fields, name="欧阳明远", id_number="320102198001010016", birth_date="19800101", phone="", address=""
    )
    miss = deployment.nodes["nhsa"].stub.CheckPerson(
        gateway_pb2.CheckPersonRequest(fields=stranger, dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK)
    )
    assert not miss.found and not miss.attributes
    with pytest.raises(grpc.RpcError) as err:
        deployment.nodes["nhsa"].stub.CheckPerson(
            gateway_pb2.CheckPersonRequest(
                fields=dict(fields, id_number="12345"), dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "id_number" in err.value.details()


def _node_channel(deployment, dept):
    d = deployment.nodes[dept].directory
    creds = grpc.ssl_channel_credentials(
        (d / "ca.crt").read_bytes(), (d / "node.key").read_bytes(), (d / "node.crt").read_bytes()
    )
    return grpc.secure_channel(deployment.matcher.address, creds)


def test_malformed_encodings_are_refused_per_record(world):
    deployment, _, _, _ = world
    info = deployment.nodes["edu"].server.node.encoding_info
    good = bytes([0b00100101]) * (info.bits // 8)  # 3 of 8 bits set: as dense as a person's record
    chunks = [
        matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset="raw",
                catalog_entry="edu.students",
                catalog_version="2023.1",
                encoding=info,
                attributes=["assistance"],
            )
        ),
        matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(
                records=[
                    matcher_pb2.EncodedRecord(ref="r0", encoding=good, attributes={"assistance": "1"}),
                    matcher_pb2.EncodedRecord(ref="r1", encoding=good[:-3]),
                    matcher_pb2.EncodedRecord(ref="r2", encoding=good, attributes={"income": "low"}),
                    matcher_pb2.EncodedRecord(ref="", encoding=good),
                    matcher_pb2.EncodedRecord(ref="r4", encoding=good),
                ]
            )
        ),
    ]
    with _node_channel(deployment, "edu") as channel:
        summary = matcher_pb2_grpc.MatcherStub(channel).UploadDataset(iter(chunks))
    assert summary.accepted == 2 and summary.rejected_count == 3
    assert {(p.index, p.field) for p in summary.rejected} == {(1, "encoding"), (2, "attributes.income"), (3, "ref")}
    assert "expected 128" in next(p.reason for p in summary.rejected if p.index == 1)


def test_oversized_message_is_refused_and_server_keeps_serving(world):
    deployment, _, _, _ = world
    info = deployment.nodes["edu"].server.node.encoding_info
    with _node_channel(deployment, "edu") as channel:
        stub = matcher_pb2_grpc.MatcherStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.QueryStatus(
                matcher_pb2.StatusQuery(
                    dataset="mca/low-income",
                    encoding=bytes(20 << 20),
                    encoding_info=info,
                    purpose=common_pb2.ELIGIBILITY_CHECK,
                )
            )
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        big = matcher_pb2.StatusQuery(
            dataset="mca/low-income", encoding=bytes(16384), encoding_info=info, purpose=common_pb2.ELIGIBILITY_CHECK
        )
        with pytest.raises(grpc.RpcError) as err:
            stub.QueryStatus(big)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # bits disagree with the bytes
        assert stub.ListDatasets(matcher_pb2.ListDatasetsRequest()).datasets


def test_audit_log_records_every_call_and_verifies(world):
    from aidlink.audit.verify import verify_log

    deployment, _, _, _ = world
    entries = deployment.audit_entries()
    uploads = [e for e in entries if e.method.endswith("UploadDataset") and e.outcome == "allowed"]
    assert {e.department for e in uploads} >= {"mca", "edu", "nhsa"}
    assert all(e.identity.startswith("aidlink://node/") for e in uploads)
    deployment.matcher.core.audit_log.checkpoint()  # verify fails on a log no checkpoint commits to
    store = deployment.open_audit_store()
    try:
        result = verify_log(store)
        assert result.ok, result.problems
    finally:
        store.close()


def test_progress_is_relayed_before_the_answer(world):
    deployment, _, _, _ = world
    kinds = [
        e.WhichOneof("event")
        for e in deployment.nodes["mca"].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(
                my_dataset="low-income", other_dataset="nhsa/medical", purpose=common_pb2.POLICY_DELIVERY_CHECK
            )
        )
    ]
    assert kinds[0] == "progress" and kinds[-1] == "summary"
    assert "progress" not in kinds[kinds.index("matches") :]
