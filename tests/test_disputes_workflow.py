"""Doubtful or wrong data (Art. 20, 23): two real nodes walk disputes through every
state over mTLS gRPC; every step is audited; an open dispute marks the record but
it is still served."""

from __future__ import annotations

from datetime import date, timedelta

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.disputes import NodeDisputes, UnknownRecord
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.disputes import add_working_days
from aidlink.matcher.similarity.blocking import NO_KEY, token_key
from aidlink.v1 import common_pb2, disputes_pb2_grpc, gateway_pb2


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("disputes")
    population = SyntheticPopulation.generate(600, seed=5)
    extracts = {d: department_extract(population, d, seed=5) for d in ("mca", "edu")}
    with LoopbackDeployment(root, departments=("mca", "edu"), database_url=matcher_database_url) as d:
        submit_rows(
            d.nodes["mca"].stub,
            gateway_pb2.SubmitHeader(
                dataset="low-income",
                catalog_entry="mca.low-income",
                catalog_version="2023.1",
                attributes=["category", "dispersed", "school_age"],
            ),
            extracts["mca"].rows,
        )
        submit_rows(
            d.nodes["edu"].stub,
            gateway_pb2.SubmitHeader(
                dataset="students",
                catalog_entry="edu.students",
                catalog_version="2023.1",
                attributes=["school_stage", "assistance"],
            ),
            extracts["edu"].rows,
        )
        desks = {}
        for dept in ("mca", "edu"):
            server = d.nodes[dept].server
            desks[dept] = NodeDisputes(
                server.node,
                disputes_pb2_grpc.DisputesStub(server.channel),
                server.refs,
                d.nodes[dept].directory / "state",
            )
        yield d, extracts, desks


def edu_matches(d):
    events = list(
        d.nodes["edu"].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(
                my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
            )
        )
    )
    return {m.record_id: m for e in events for m in local_matches(e)}


def test_disputes_walk_every_state_between_two_nodes(world):
    d, extracts, desks = world
    edu, mca = desks["edu"], desks["mca"]
    matches = edu_matches(d)
    assert len(matches) >= 3
    doubted = sorted(matches)[:3]
    purpose = common_pb2.ELIGIBILITY_CHECK

    # edu flags three matched students; each dispute starts open with a working-day deadline.
    flagged = [
        edu.flag("students", rid, "mca/low-income", purpose, f"family income changed ({rid})") for rid in doubted
    ]
    for dispute in flagged:
        assert dispute.state == "open" and dispute.flagged_by == "edu" and dispute.provider == "mca"
        assert dispute.due == add_working_days(date.today(), 5).isoformat()
        assert dispute.provider_ref == ""  # the flagger never sees the provider's reference
        assert dispute.provider_dataset == "mca/low-income"

    # mca's node receives them in its inbox, resolved to ITS OWN record ids.
    inbox = mca.inbox()
    assert [e.kind for e in inbox] == ["flagged"] * 3
    mca_ids = set(extracts["mca"].truth)
    assert all(e.record_id in mca_ids and e.dispute.user_ref == "" for e in inbox)
    truth_edu, truth_mca = extracts["edu"].truth, extracts["mca"].truth
    for event, rid in zip(inbox, doubted):
        assert truth_mca[event.record_id] == truth_edu[rid]  # the same person
    assert mca.inbox() == []  # resumes after the last one handled

    # While open, the provider record is marked disputed but still served (Art. 23).
    ver = flagged[0].provider_version
    assert len(d.matcher.disputes.disputed_refs("mca/low-income", ver)) == 3
    served = edu_matches(d)
    assert set(doubted) <= set(served)
    assert {rid for rid, m in served.items() if m.disputed} == set(doubted)

    confirm_id, reject_id, correct_id = (e.dispute.id for e in inbox)
    by_id = {e.dispute.id: e.record_id for e in inbox}
    for dispute_id in (confirm_id, reject_id, correct_id):
        assert mca.acknowledge(dispute_id).state == "received"
    assert mca.confirm(confirm_id, "verified against the 2023 household survey").state == "confirmed"
    assert (
        mca.reject(reject_id, "the household's income is recorded correctly; bring proof to the bureau").state
        == "rejected"
    )

    row = dict(next(r for r in extracts["mca"].rows if r["rec_id"] == by_id[correct_id]))
    row["category"] = "monitored"
    corrected = mca.correct(correct_id, row, ["category", "dispersed", "school_age"], "category updated")
    assert corrected.state == "corrected" and corrected.corrected_version == ver + 1
    # The correction goes through the node's record pipeline like an upload: it carries the
    # person's blocking tokens, so the blocked join finds the corrected record as before.
    stored = d.matcher.store.load(d.matcher.store.latest("mca", "low-income"))
    tokens = d.nodes["mca"].server.node.pipeline.prepare(row).blocking_tokens
    keys = stored.blocking.keys[stored.refs.index(corrected.provider_ref)]
    assert {int(k) for k in keys if k != NO_KEY} == {token_key(t) for t in tokens} != set()
    assert d.matcher.disputes.disputed_refs("mca/low-income", ver) == set()

    # edu is notified of every step, with its own record ids.
    notes = edu.inbox()
    assert sorted(e.kind for e in notes) == ["acknowledged"] * 3 + ["confirmed", "corrected", "rejected"]
    assert {e.record_id for e in notes} == set(doubted)
    final = {x.id: x for x in edu.list(role="flagged")}
    assert final[reject_id].answer.startswith("the household's income")
    assert final[correct_id].corrected_version == ver + 1

    # The corrected version is what is matched now: the corrected person is no longer low-income.
    after = edu_matches(d)
    corrected_student = doubted[[x.id for x in flagged].index(correct_id)]
    assert corrected_student not in after
    assert doubted[[x.id for x in flagged].index(confirm_id)] in after

    # Every step is an audited call with its purpose and the dispute id.
    entries = [e for e in d.audit_entries() if e.method.startswith("/aidlink.v1.Disputes/")]
    steps = [(e.method.rsplit("/", 1)[1], e.department, e.outcome) for e in entries]
    assert steps.count(("Flag", "edu", "allowed")) == 3
    assert steps.count(("Respond", "mca", "allowed")) == 5
    assert ("CorrectRecord", "mca", "allowed") in steps
    assert all(e.purpose == "data-correction" for e in entries)
    correction = next(e for e in entries if e.method.endswith("/CorrectRecord"))
    assert f"dispute:{correct_id}" in correction.datasets
    assert f"mca/low-income@v{ver + 1}" in correction.datasets
    flags = [e for e in entries if e.method.endswith("/Flag")]
    assert all(e.agreement == "art14-1a.mca-to-edu" for e in flags)


def test_wrong_steps_are_refused_and_audited(world):
    d, extracts, desks = world
    edu, mca = desks["edu"], desks["mca"]
    matches = edu_matches(d)
    unmatched = sorted(set(extracts["edu"].truth) - set(matches))
    with pytest.raises(grpc.RpcError) as err:
        edu.flag("students", unmatched[0], "mca/low-income", common_pb2.ELIGIBILITY_CHECK, "doubt")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "only a matched record can be flagged" in err.value.details()
    with pytest.raises(UnknownRecord):
        edu.flag("students", "no-such-record", "mca/low-income", common_pb2.ELIGIBILITY_CHECK, "doubt")
    rid = sorted(matches)[-1]
    with pytest.raises(grpc.RpcError) as err:
        edu.flag("students", rid, "mca/low-income", common_pb2.ELIGIBILITY_CHECK, "  ")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "needs a reason" in err.value.details()

    dispute = edu.flag("students", rid, "mca/low-income", common_pb2.ELIGIBILITY_CHECK, "moved away")
    with pytest.raises(grpc.RpcError) as err:  # only the provider answers
        edu.confirm(dispute.id, "it is right")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:  # one open dispute per record and flagger
        edu.flag("students", rid, "mca/low-income", common_pb2.ELIGIBILITY_CHECK, "again")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # Deadlines: past the due date the dispute shows as overdue to both sides.
    desk = d.matcher.disputes
    desk.today = lambda: date.fromisoformat(dispute.due) + timedelta(days=1)
    try:
        assert next(x for x in edu.list(open_only=True) if x.id == dispute.id).overdue
        assert next(x for x in mca.list(role="provider") if x.id == dispute.id).overdue
    finally:
        desk.today = date.today
    hostile = dict(extracts["mca"].rows[0])
    hostile["category"] = "320102199001011234"  # a correction is held to the catalog's types too
    with pytest.raises(grpc.RpcError) as err:
        mca.correct(dispute.id, hostile, ["category"], "category updated")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "attributes.category" in err.value.details()
    assert "one of dibao" in err.value.details() and "320102199001011234" not in err.value.details()
    mca.reject(dispute.id, "not our record")
    with pytest.raises(grpc.RpcError) as err:
        mca.confirm(dispute.id, "changed my mind")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "already rejected" in err.value.details()

    refused = [e for e in d.audit_entries() if e.method.startswith("/aidlink.v1.Disputes/") and e.outcome == "refused"]
    assert {e.status for e in refused} >= {"NOT_FOUND", "INVALID_ARGUMENT", "PERMISSION_DENIED", "FAILED_PRECONDITION"}
    assert any("already rejected" in e.detail for e in refused)


def test_working_days_skip_weekends():
    friday = date(2024, 3, 1)
    assert add_working_days(friday, 1) == date(2024, 3, 4)
    assert add_working_days(friday, 5) == date(2024, 3, 8)


def test_dispute_command_line_lists_states_and_inbox(world, capsys):
    from aidlink.cli.main import main

    d, _, _ = world
    node = ["--department", "mca", "--node-dir", str(d.nodes["mca"].directory), "--matcher", d.matcher.address]
    assert main(["dispute", "list", "--role", "provider", *node]) == 0
    out = capsys.readouterr().out
    for state in ("confirmed", "rejected", "corrected"):
        assert f" {state} " in out
    assert "my record " in out  # resolved to mca's own record ids
    assert main(["dispute", "inbox", "--after", "0", *node]) == 0
    assert "flagged" in capsys.readouterr().out
    assert main(["dispute", "confirm", "dsp-nosuch", "--reason", "x", *node]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
