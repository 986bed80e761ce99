"""Monitoring end to end over real mTLS with all ten departments: warnings and
their audited lifecycle, referrals resolved to the receiver's own records,
identity disclosure sealed end to end (the matcher stores and relays only
ciphertext), Art. 14(5) feedback about the caller's own records only, and a
matcher restart that loses no warning, history or referral."""

from __future__ import annotations

import json

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.referrals import DisclosureError, open_identity
from aidlink.gateway.synthetic.extracts import DEPARTMENTS, department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import common_pb2, gateway_pb2, monitoring_pb2_grpc
from aidlink.v1 import monitoring_pb2 as pb
from tests.test_privacy_wire import first_leak, needles

SEED = 21
IDENTITY = ("name", "id_number", "birth_date", "sex", "phone", "address")


def gateway(deployment, dept) -> monitoring_pb2_grpc.MonitoringGatewayStub:
    return monitoring_pb2_grpc.MonitoringGatewayStub(deployment.nodes[dept].channel)


def matcher_as(deployment, dept):
    """A direct mTLS channel to the matcher with a department node's certificate."""
    d = deployment.nodes[dept].directory
    creds = grpc.ssl_channel_credentials(
        deployment.ca.cert_pem, (d / "node.key").read_bytes(), (d / "node.crt").read_bytes()
    )
    return grpc.secure_channel(deployment.matcher.address, creds)


def lookup(extract):
    rows = {r["rec_id"]: r for r in extract.rows}
    return lambda rid: {k: rows[rid][k] for k in IDENTITY} if rid in rows else None


def restart_matcher(deployment) -> None:
    old = deployment.matcher
    cfg = old.config
    old.stop(grace=1)
    deployment.matcher = MatcherServer(
        MatcherConfig(
            data_dir=cfg.data_dir,
            listen=f"127.0.0.1:{old.port}",
            tls=cfg.tls,
            audit_key=cfg.audit_key,
            audit_origin=cfg.audit_origin,
            database_url=cfg.database_url,
        )
    ).start()


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    population = SyntheticPopulation.generate(900, seed=SEED)
    extracts = {d: department_extract(population, d, seed=SEED) for d in DEPARTMENTS}
    catalog = Catalog.load()
    with LoopbackDeployment(
        tmp_path_factory.mktemp("monitoring"), departments=tuple(DEPARTMENTS), database_url=matcher_database_url
    ) as deployment:
        for entry in catalog.entries.values():
            ex = extracts[entry.provider]
            attrs = [a for a in entry.attributes if a in ex.columns or a == "school_age"]
            submit_rows(
                deployment.nodes[entry.provider].stub,
                gateway_pb2.SubmitHeader(
                    dataset=entry.id.split(".", 1)[1],
                    catalog_entry=entry.id,
                    catalog_version=catalog.version,
                    attributes=attrs,
                ),
                ex.rows,
            )
        for dept in DEPARTMENTS:
            gateway(deployment, dept).SyncInbox(pb.SyncInboxRequest())
        summary = gateway(deployment, "mca").RebuildGraph(pb.RebuildGraphRequest())
        yield deployment, extracts, summary


def _walk_to_visited(mca, warning_id):
    mca.ChangeWarning(pb.WarningChange(id=warning_id, status="assigned", assignee="county office"))
    mca.ChangeWarning(pb.WarningChange(id=warning_id, status="visited", note="home visit"))


def test_graph_links_departments_and_warnings_are_listed_with_own_records(world):
    deployment, extracts, summary = world
    assert len(summary.datasets) == 10 and summary.linked_clusters > 300
    kinds = {c.type for c in summary.open_warnings}
    assert {"policy-not-delivered", "illness"} <= kinds
    # open ones: screening on each upload may have raised (and auto-closed) warnings on partial data
    listed = (
        gateway(deployment, "mca")
        .ListWarnings(pb.WarningQuery(types=["policy-not-delivered"], statuses=["new"]))
        .warnings
    )
    assert listed and all(w.warning.type == "policy-not-delivered" for w in listed)
    truth = extracts["mca"].truth
    assert all(rid in truth for w in listed for rid in w.record_ids)
    # uploaded without the derived `division`: the region falls back to the node's (province level here);
    # tests/test_monitoring_routing.py has the person's county
    assert all(w.warning.region == "320000" for w in listed)
    assert gateway(deployment, "mca").ListWarnings(pb.WarningQuery(region="320900")).warnings == []
    with pytest.raises(grpc.RpcError) as err:
        gateway(deployment, "edu").ListWarnings(pb.WarningQuery())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "civil affairs" in err.value.details()


def test_referral_to_a_department_holding_the_person_resolves_to_its_own_record(world):
    deployment, extracts, _ = world
    mca = gateway(deployment, "mca")
    w = mca.ListWarnings(pb.WarningQuery(statuses=["new"], types=["policy-not-delivered"])).warnings
    target = next(x for x in w if x.warning.rule_id == "pnd.no-medical-assistance")
    with pytest.raises(grpc.RpcError) as early:  # visit first (Art. 16-17)
        mca.ReferWarning(pb.ReferRequest(warning_id=target.warning.id, to_department="nhsa"))
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "visit first" in early.value.details()
    _walk_to_visited(mca, target.warning.id)
    referral = mca.ReferWarning(
        pb.ReferRequest(warning_id=target.warning.id, to_department="nhsa", note="medical assistance not delivered")
    )
    assert referral.status == "sent" and referral.agreement == "art17.referral-from-mca"
    inbox = gateway(deployment, "nhsa").SyncInbox(pb.SyncInboxRequest())
    entry = next(e for e in inbox.entries if e.item.referral_id == referral.id)
    person = extracts["mca"].truth[target.record_ids[0]]
    assert [extracts["nhsa"].truth[r] for r in entry.record_ids] == [person]
    assert entry.item.reason == target.warning.reason and not entry.identity
    detail = monitoring_pb2_grpc.MonitoringStub(matcher_as(deployment, "mca")).GetWarning(
        pb.GetWarningRequest(id=target.warning.id)
    )
    assert [h.to_status for h in detail.history] == ["new", "assigned", "visited", "referred"]
    assert detail.referrals[0].status == "received"  # nhsa's node fetched it
    entries = [e for e in deployment.audit_entries() if "/aidlink.v1.Monitoring/" in e.method]
    refer = [e for e in entries if e.method.endswith("ReferWarning")]
    assert [e.outcome for e in refer] == ["refused", "allowed"]
    assert refer[1].purpose == "referral" and refer[1].agreement == "art17.referral-from-mca"
    assert sum(e.method.endswith("ChangeWarning") and e.department == "mca" for e in entries) >= 2


def test_disclosure_is_sealed_end_to_end_and_the_matcher_keeps_only_ciphertext(world, stored_matcher_state):
    deployment, extracts, _ = world
    mca = gateway(deployment, "mca")
    # an illness warning about a person mca does not hold: referred to mca itself, nhsa discloses
    illness = mca.ListWarnings(pb.WarningQuery(types=["illness"], statuses=["new"])).warnings
    target = next(w for w in illness if not w.record_ids and w.warning.subject_dataset == "nhsa/medical")
    _walk_to_visited(mca, target.warning.id)
    referral = mca.ReferWarning(pb.ReferRequest(warning_id=target.warning.id, to_department="mca"))
    assert referral.status == "awaiting-disclosure" and referral.agreement == "art15.risk-disclosure-to-mca"
    deployment.nodes["nhsa"].server.inbox.sync(record_lookup=lookup(extracts["nhsa"]))
    inbox = mca.SyncInbox(pb.SyncInboxRequest())
    entry = next(e for e in inbox.entries if e.item.referral_id == referral.id)
    request = next(e for e in deployment.nodes["nhsa"].server.inbox.entries() if e.referral_id == referral.id)
    row = next(r for r in extracts["nhsa"].rows if r["rec_id"] == request.record_ids[0])
    assert dict(entry.identity) == {k: row[k] for k in IDENTITY}
    assert entry.item.disclosed_by == "nhsa" and request.state == "disclosure-sent"

    # At rest the node keeps the identity sealed: no identity value, in UTF-8 or as a JSON
    # escape, in the bytes of mca's inbox file, its WAL or shared memory (read while it is open).
    state = deployment.nodes["mca"].server.config.data_dir
    raw = b"".join(p.read_bytes() for p in state.glob("inbox.sqlite*"))
    assert entry.item.sealed_identity in raw  # the sealed form is what is stored
    for value in (row[k] for k in ("name", "id_number", "phone", "address") if row[k]):
        for form in (value.encode("utf-8"), json.dumps(value).strip('"').encode("ascii")):
            assert form not in raw, f"inbox.sqlite holds the disclosed identity in the clear ({value!r})"

    # Only the recipient's key opens it; the sealed blob names this referral only.
    blob = entry.item.sealed_identity
    d = deployment.nodes["nhsa"].directory
    with pytest.raises(DisclosureError):
        open_identity(blob, referral.id, (d / "node.key").read_bytes(), (d / "node.crt").read_bytes())
    m = deployment.nodes["mca"].directory
    with pytest.raises(DisclosureError, match="sealed for referral"):
        open_identity(blob, referral.id + 1, (m / "node.key").read_bytes(), (m / "node.crt").read_bytes())

    # What the matcher relays (every inbox item it serves, read back as each node) and what it
    # stores hold no raw identifier of any department.
    wanted = {}
    for ex in extracts.values():
        wanted.update(needles(ex.rows))
    relayed = b""
    for dept in ("mca", "nhsa", "edu"):
        with matcher_as(deployment, dept) as channel:
            batch = monitoring_pb2_grpc.MonitoringStub(channel).FetchInbox(pb.ReferralInboxRequest(after=0, limit=1000))
            relayed += batch.SerializeToString()
    assert blob in relayed
    assert first_leak(relayed, wanted) is None
    stored = stored_matcher_state(deployment)  # data directory files and, on PostgreSQL, every table
    assert "monitoring.sqlite" in stored or "table referrals" in stored
    for name, content in stored.items():
        assert first_leak(content, wanted) is None, f"{name} holds a raw identifier"
        assert b"MCA-0" not in content and b"NHSA-0" not in content


def test_feedback_tells_a_submitting_department_about_its_own_records_only(world):
    deployment, extracts, _ = world
    answer = gateway(deployment, "cdpf").GetFeedback(
        pb.FeedbackRequest(my_dataset="disability", purpose=common_pb2.POLICY_DELIVERY_CHECK)
    )
    assert answer.summary.agreement == "art14-5b.mca-feedback" and answer.items
    cdpf_truth = extracts["cdpf"].truth
    mca_category = {extracts["mca"].truth[r["rec_id"]]: r["category"] for r in extracts["mca"].rows}
    right = sum(mca_category.get(cdpf_truth[i.record_id]) == i.category for i in answer.items)
    assert all(i.record_id in cdpf_truth for i in answer.items)
    assert right >= 0.95 * len(answer.items)
    assert {i.status for i in answer.items} <= {"assisted", "monitored"}
    expected = {rid for rid, pid in cdpf_truth.items() if pid in mca_category}
    assert len({i.record_id for i in answer.items} & expected) >= 0.9 * len(expected)
    with matcher_as(deployment, "cdpf") as channel:  # refs the matcher answers are cdpf's own
        raw = monitoring_pb2_grpc.MonitoringStub(channel).GetFeedback(
            pb.FeedbackRequest(my_dataset="disability", purpose=common_pb2.POLICY_DELIVERY_CHECK)
        )
    refs = deployment.nodes["cdpf"].server.refs
    assert all(refs.resolve(i.ref) in cdpf_truth for i in raw.items)
    with pytest.raises(grpc.RpcError) as err:  # health has no agreement on mca's low-income data
        gateway(deployment, "health").GetFeedback(
            pb.FeedbackRequest(my_dataset="serious-illness", purpose=common_pb2.POLICY_DELIVERY_CHECK)
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "does not allow purpose 'policy-delivery-check'" in err.value.details()


def test_nothing_is_lost_across_a_matcher_restart(world):
    deployment, extracts, _ = world
    mca = gateway(deployment, "mca")
    before = {
        w.warning.id: (w.warning.status, w.warning.cluster_id)
        for w in mca.ListWarnings(pb.WarningQuery(limit=10000)).warnings
    }
    pending = mca.ListWarnings(pb.WarningQuery(statuses=["new"], types=["disaster", "disability"])).warnings[0]
    _walk_to_visited(mca, pending.warning.id)
    # referred to mca itself: the holder (mem or cdpf) has not answered yet when the matcher restarts
    referral = mca.ReferWarning(pb.ReferRequest(warning_id=pending.warning.id, to_department="mca"))
    assert referral.status == "awaiting-disclosure"
    holder = pending.warning.subject_dataset.partition("/")[0]
    restart_matcher(deployment)
    after = {
        w.warning.id: (w.warning.status, w.warning.cluster_id)
        for w in mca.ListWarnings(pb.WarningQuery(limit=10000)).warnings
    }
    assert after.keys() == before.keys()
    assert after[pending.warning.id][0] == "referred"
    assert all(
        after[i] == before[i]
        for i in before
        if i != pending.warning.id and before[i][0] == "new" and after[i][0] == "new"
    )
    deployment.nodes[holder].server.inbox.sync(record_lookup=lookup(extracts[holder]))
    inbox = mca.SyncInbox(pb.SyncInboxRequest())
    entry = next(e for e in inbox.entries if e.item.referral_id == referral.id)
    assert entry.identity["id_number"] and entry.state == "received"
    assert any(entry.identity["name"] == r["name"] for r in extracts[holder].rows)
    detail = monitoring_pb2_grpc.MonitoringStub(matcher_as(deployment, "mca")).GetWarning(
        pb.GetWarningRequest(id=pending.warning.id)
    )
    assert [h.to_status for h in detail.history] == ["new", "assigned", "visited", "referred"]
    assert detail.referrals[0].status == "received" and detail.referrals[0].disclosed


def test_download_as_csv_and_excel_through_the_command_line(world, tmp_path, capsys):
    from openpyxl import load_workbook

    from aidlink.cli.downloads import read_table
    from aidlink.cli.main import main
    from aidlink.result_notice import NOTICE

    deployment, extracts, _ = world
    cdpf = deployment.nodes["cdpf"].server.address
    assert (
        main(
            [
                "gateway",
                "download",
                "feedback",
                "--gateway",
                cdpf,
                "--my-dataset",
                "disability",
                "-o",
                str(tmp_path / "feedback.xlsx"),
            ]
        )
        == 0
    )
    header, cells = read_table(tmp_path / "feedback.xlsx")
    rows = [tuple(header), *(tuple(r) for r in cells)]
    answer = gateway(deployment, "cdpf").GetFeedback(
        pb.FeedbackRequest(my_dataset="disability", purpose=common_pb2.POLICY_DELIVERY_CHECK)
    )
    assert rows[0] == ("record_id", "status", "category")
    assert sorted(rows[1:]) == sorted((i.record_id, i.status, i.category) for i in answer.items)
    edu = deployment.nodes["edu"].server.address
    assert (
        main(
            [
                "gateway",
                "download",
                "compare",
                "--gateway",
                edu,
                "--my-dataset",
                "students",
                "--other",
                "mca/low-income",
                "--purpose",
                "eligibility-check",
                "-o",
                str(tmp_path / "c.csv"),
            ]
        )
        == 0
    )
    text = (tmp_path / "c.csv").read_text("utf-8-sig").splitlines()
    assert text[0] == f"# {NOTICE}"  # the Art. 26 notice opens every download
    text = text[1:]
    assert text[0] == "record_id,score,category" and len(text) > 10
    assert all(line.split(",")[0] in extracts["edu"].truth for line in text[1:])
    mca = deployment.nodes["mca"].server.address
    assert main(["monitoring", "warnings", "--gateway", mca, "--level", "red", "-o", str(tmp_path / "w.xlsx")]) == 0
    sheet = list(load_workbook(tmp_path / "w.xlsx").active.iter_rows(values_only=True))
    assert sheet[0][0] == NOTICE and load_workbook(tmp_path / "w.xlsx").properties.description == NOTICE
    sheet = sheet[1:]
    assert sheet[0][:3] == ("id", "level", "type") and {r[1] for r in sheet[1:]} == {"red"}
    assert main(["monitoring", "change", "999999", "--gateway", mca, "--status", "closed"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
