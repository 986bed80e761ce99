"""Warnings routed to the people who act (issue 16, item 5), over real mTLS with all ten
departments uploading with their catalog entry's attributes (none named: the nodes derive
school age, household pseudonym and the registered division):

- screening runs on each upload, and new warnings are pushed to civil affairs' subscription
  without anyone listing or rebuilding;
- a listing for a county returns that county's warnings (the person's registered division,
  derived on the holding node), each with the departments holding the person, the household
  pseudonym, the rule, level and suggested action; people not in mca's register are marked;
- civil affairs learns who an unregistered person is before the visit (a disclosure to itself);
- a referral is pushed to the receiving node's stream at once, stored in its inbox and relayed
  to its department's system as a JSON file in a watched folder.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import queue
import threading
import time
from collections import Counter

import grpc
import pytest

from aidlink.cli.main import main
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.monitoring_relay import FolderRelay, MonitoringSubscriber
from aidlink.gateway.normalize.person import normalize_person
from aidlink.gateway.server import GatewayServer, matcher_channel
from aidlink.gateway.synthetic.extracts import DEPARTMENTS, department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.monitoring.rules import RuleSet
from aidlink.matcher.monitoring.service import SUBSCRIPTION_RECHECK_S
from aidlink.v1 import gateway_pb2, monitoring_pb2_grpc
from aidlink.v1 import monitoring_pb2 as pb
from tests.test_monitoring_referrals import IDENTITY, gateway, lookup, matcher_as

SEED = 33
# Generous, so a loaded machine cannot make it flake; still well under the matcher's own
# re-check interval, so what arrives in time was pushed, not found by a periodic look.
PUSH_TIMEOUT_S = 10.0
assert PUSH_TIMEOUT_S < SUBSCRIPTION_RECHECK_S


class Subscription:
    """A department's Monitoring.Subscribe stream read in a thread into a queue (closed in `close`)."""

    def __init__(self, deployment, dept: str, warnings_after: int = 0) -> None:
        self.channel = matcher_as(deployment, dept)
        self.call = monitoring_pb2_grpc.MonitoringStub(self.channel).Subscribe(
            pb.SubscribeRequest(warnings_after=warnings_after), timeout=300
        )
        self.events: queue.Queue = queue.Queue()
        self.first: pb.MonitoringEvent | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.put(event)
        except grpc.RpcError as exc:
            self.events.put(exc)

    def next(self, timeout: float) -> pb.MonitoringEvent:
        event = self.events.get(timeout=timeout)
        if isinstance(event, grpc.RpcError):
            raise event
        return event

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(timeout=30)
        self.channel.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    population = SyntheticPopulation.generate(900, seed=SEED)
    extracts = {d: department_extract(population, d, seed=SEED) for d in DEPARTMENTS}
    catalog = Catalog.load()
    with LoopbackDeployment(
        tmp_path_factory.mktemp("routing"), departments=tuple(DEPARTMENTS), database_url=matcher_database_url
    ) as deployment:
        # civil affairs subscribes before anything is uploaded: warnings come to it, unasked
        mca_stream = Subscription(deployment, "mca")
        try:
            for dept in DEPARTMENTS:  # each node introduces itself (the matcher learns its certificate)
                gateway(deployment, dept).SyncInbox(pb.SyncInboxRequest())
            for entry in catalog.entries.values():
                submit_rows(
                    deployment.nodes[entry.provider].stub,
                    gateway_pb2.SubmitHeader(  # no attributes named: the entry's own list
                        dataset=entry.id.split(".", 1)[1], catalog_entry=entry.id, catalog_version=catalog.version
                    ),
                    extracts[entry.provider].rows,
                )
            # nobody lists warnings or rebuilds the graph: the uploads are screened as they come,
            # and what that raises is pushed (the screening itself, a graph over 10 datasets, takes time)
            mca_stream.first = mca_stream.next(timeout=300)
            # then the last upload's screening is finished before the tests look (no test races it)
            deployment.matcher.monitor.ensure_current()
            yield deployment, extracts, mca_stream
        finally:
            mca_stream.close()


def test_screening_runs_on_upload_and_new_warnings_are_pushed_to_civil_affairs(world):
    deployment, _, mca_stream = world
    first = mca_stream.first  # pushed while the fixture uploaded, before anyone asked
    assert first.WhichOneof("event") == "warning"
    w = first.warning
    assert w.rule_id and w.level and w.action and w.departments
    store = deployment.matcher.monitor.store
    assert store.last_build() is not None


def test_a_county_listing_returns_its_warnings_with_departments_household_and_action(world):
    deployment, extracts, _ = world
    mca = gateway(deployment, "mca")
    everything = mca.ListWarnings(pb.WarningQuery(limit=10000)).warnings
    regions = Counter(w.warning.region for w in everything)
    county, _ = next((r, n) for r, n in regions.most_common() if not r.endswith("00"))
    listed = mca.ListWarnings(pb.WarningQuery(region=county, limit=10000)).warnings
    assert any(w.warning.subject_dataset == "mca/low-income" for w in listed)
    assert listed and {w.warning.id for w in listed} == {w.warning.id for w in everything if w.warning.region == county}
    rules = RuleSet.load()
    mca_rows = {r["rec_id"]: r for r in extracts["mca"].rows}
    pseudonyms = deployment.nodes["mca"].server.node.pipeline.pseudonyms
    for item in listed:
        w = item.warning
        assert w.region == county
        assert w.action == rules.rule(w.rule_id).action and w.action
        assert w.departments and w.subject_dataset.split("/")[0] in w.departments
        assert w.not_in_register == ("mca" not in w.departments) == (not item.record_ids)
        if w.subject_dataset != "mca/low-income":
            continue
        for rid in item.record_ids:  # the person's registered division and household, derived on mca's node
            row = mca_rows[rid]
            assert normalize_person(row).division_code == county
            assert w.household == pseudonyms.household(row["household_id"])
    # a city code covers its counties
    city = county[:4] + "00"
    in_city = mca.ListWarnings(pb.WarningQuery(region=city, limit=10000)).warnings
    assert {w.warning.id for w in listed} <= {w.warning.id for w in in_city}
    assert all(w.warning.region.startswith(county[:4]) for w in in_city)
    # the county/city of each warning is all the matcher learnt of where the person lives
    stored = deployment.matcher.store
    attributes = {k for m in stored.list_latest() for a in stored.load(m).attributes for k in a}
    assert not attributes & {"address", "id_number", "household_id", "birth_date"}
    assert "division" in attributes


def test_civil_affairs_learns_who_an_unregistered_person_is_before_the_visit(world):
    deployment, extracts, _ = world
    mca = gateway(deployment, "mca")
    warnings = mca.ListWarnings(pb.WarningQuery(types=["illness"], statuses=["new"], limit=10000)).warnings
    target = next(w for w in warnings if w.warning.not_in_register and w.warning.subject_dataset == "nhsa/medical")
    assert not target.record_ids  # mca holds no record: "found, not yet assisted" (Art. 11)
    referral = mca.ReferWarning(pb.ReferRequest(warning_id=target.warning.id, to_department="mca"))
    assert referral.status == "awaiting-disclosure" and referral.agreement == "art15.risk-disclosure-to-mca"
    deployment.nodes["nhsa"].server.inbox.sync(record_lookup=lookup(extracts["nhsa"]))
    entry = next(e for e in mca.SyncInbox(pb.SyncInboxRequest()).entries if e.item.referral_id == referral.id)
    assert set(IDENTITY) <= set(entry.identity) and entry.identity["name"]
    # the warning is still new: assigning and visiting come after learning whom to visit
    again = mca.ListWarnings(pb.WarningQuery(statuses=["new"], limit=10000)).warnings
    assert target.warning.id in {w.warning.id for w in again}
    with pytest.raises(grpc.RpcError) as err:  # a person mca holds needs no disclosure
        registered = next(w for w in again if w.record_ids)
        mca.ReferWarning(pb.ReferRequest(warning_id=registered.warning.id, to_department="mca"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "already holds" in err.value.details()


def test_a_referral_is_pushed_to_the_receiving_node_and_relayed_to_its_system(world, tmp_path):
    deployment, _, _ = world
    mca = gateway(deployment, "mca")
    target = next(
        w
        for w in mca.ListWarnings(pb.WarningQuery(statuses=["new"], limit=10000)).warnings
        if w.warning.rule_id == "pnd.no-education-assistance"
    )
    mca.ChangeWarning(pb.WarningChange(id=target.warning.id, status="assigned", assignee="Tinghu office"))
    mca.ChangeWarning(pb.WarningChange(id=target.warning.id, status="visited"))

    edu = deployment.nodes["edu"]
    folder = tmp_path / "edu-system"
    subscriber = MonitoringSubscriber(
        matcher_channel(edu.server.config),
        edu.server.inbox,
        edu.server.refs,
        tmp_path / "edu-state",
        FolderRelay(folder),
    ).start()
    try:
        assert subscriber.connected.wait(PUSH_TIMEOUT_S)
        sent_at = time.monotonic()
        referral = mca.ReferWarning(pb.ReferRequest(warning_id=target.warning.id, to_department="edu", note="grant"))
        # pushed to edu's node, stored in its inbox and relayed to edu's system as a JSON file
        deadline = sent_at + PUSH_TIMEOUT_S
        found: list = []
        while not found and time.monotonic() < deadline:
            found = list(folder.glob("referral-*.json"))
            time.sleep(0.01)
        took = time.monotonic() - sent_at
        assert found, f"the referral did not reach edu's node within {PUSH_TIMEOUT_S} s"
        print(f"referral relayed by edu's node {took * 1000:.0f} ms after ReferWarning returned")
        (path,) = found
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["kind"] == "referral" and int(document["referral_id"]) == referral.id
        assert document["note"] == "grant" and document["record_ids"] == list(target_records(deployment, target))
        assert document["from_department"] == "mca" and document["level"] == target.warning.level
        assert not any(k in document for k in ("sealed_identity", "recipient_certificate", "records"))
        local = {e.referral_id: e for e in edu.server.inbox.entries()}
        assert local[referral.id].record_ids == document["record_ids"]
        assert not list(folder.glob(".*"))  # no half-written file left
    finally:
        subscriber.stop()


def target_records(deployment, target) -> list[str]:
    """edu's own record ids in the warning's cluster (what edu's node lists for it)."""
    edu = gateway(deployment, "edu")
    with pytest.raises(grpc.RpcError):  # edu may not list warnings (civil affairs leads) ...
        edu.ListWarnings(pb.WarningQuery())
    cluster = deployment.matcher.monitor.clusters.records(target.warning.cluster_id)
    refs = deployment.nodes["edu"].server.refs
    return [refs.resolve(r.ref) for r in cluster if r.department == "edu"]


def test_one_subscription_per_department_a_newer_one_replaces_the_older(world):
    deployment, _, _ = world
    first = Subscription(deployment, "hrss")
    try:
        time.sleep(0.5)
        second = Subscription(deployment, "hrss")
        try:
            with pytest.raises(queue.Empty):  # the new one stays open
                second.next(timeout=0.5)
            first.thread.join(timeout=PUSH_TIMEOUT_S)
            assert not first.thread.is_alive()  # the older stream ended, its stream slot given back
            ended = first.events.get_nowait()
            assert isinstance(ended, grpc.RpcError) and "replaced by a newer one" in ended.details()
            # the live subscription is one of hrss's streaming calls, and only one
            deadline = time.monotonic() + PUSH_TIMEOUT_S
            while deployment.matcher.admission.in_progress().get("hrss") != (1, 1) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert deployment.matcher.admission.in_progress().get("hrss") == (1, 1)
        finally:
            second.close()
    finally:
        first.close()


def test_a_node_started_with_a_relay_folder_writes_each_new_warning_for_the_county_office(world, tmp_path):
    """`aidlink gateway serve --relay-folder DIR` (GatewayConfig.relay_folder): civil affairs' node
    subscribes on start and writes every warning as a JSON file the county's system can route."""
    deployment, _, _ = world
    everything = gateway(deployment, "mca").ListWarnings(pb.WarningQuery(limit=10000)).warnings
    folder = tmp_path / "mca-system"
    config = dataclasses.replace(
        deployment.nodes["mca"].server.config, data_dir=tmp_path / "mca-node", socket=None, listen=None
    )
    config.relay_folder = folder
    node = GatewayServer(config).start()
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("warning-*.json"))) < len(everything) and time.monotonic() < deadline:
            time.sleep(0.05)
        files = {int(p.stem.split("-")[1]): p for p in folder.glob("warning-*.json")}
        assert set(files) >= {w.warning.id for w in everything}
        sample = next(w.warning for w in everything if w.warning.household)
        document = json.loads(files[sample.id].read_text(encoding="utf-8"))
        assert (document["kind"], document["region"], document["household"]) == (
            "warning",
            sample.region,
            sample.household,
        )
        assert document["departments"] == list(sample.departments) and document["action"] == sample.action
        assert document["rule_id"] == sample.rule_id and document["level"] == sample.level
    finally:
        node.stop(grace=1)


def test_a_subscription_with_an_impossible_cursor_is_refused_naming_it(world):
    deployment, _, _ = world
    with matcher_as(deployment, "union") as channel:
        stub = monitoring_pb2_grpc.MonitoringStub(channel)
        for request, field in (
            (pb.SubscribeRequest(warnings_after=2**64 - 1), "warnings_after"),
            (pb.SubscribeRequest(after=2**63), "after"),
        ):
            with pytest.raises(grpc.RpcError) as err:
                next(iter(stub.Subscribe(request, timeout=30)))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith(field)


def test_the_county_listing_through_the_command_line(world, tmp_path):
    """`aidlink monitoring warnings --region CODE -o FILE.csv`: what the county office downloads."""
    deployment, _, _ = world
    mca = gateway(deployment, "mca")
    regions = Counter(w.warning.region for w in mca.ListWarnings(pb.WarningQuery(limit=10000)).warnings)
    county = next(r for r, _ in regions.most_common() if not r.endswith("00"))
    out = tmp_path / "county.csv"
    node = deployment.nodes["mca"].server.address
    assert main(["monitoring", "warnings", "--gateway", node, "--region", county, "-o", str(out)]) == 0
    lines = out.read_text("utf-8-sig").splitlines()
    rows = list(csv.DictReader(line for line in lines if line and not line.startswith("#")))
    assert len(rows) == regions[county]
    assert all(r["region"] == county and r["departments"] and r["action"] for r in rows)
    assert {r["not_in_register"] for r in rows} <= {"yes", ""}
    assert all(bool(r["record_ids"]) != (r["not_in_register"] == "yes") for r in rows)
