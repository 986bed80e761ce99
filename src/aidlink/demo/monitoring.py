"""The monitoring part of `aidlink demo` (Art. 14-18): the linkage graph over all
ten departments, warnings by type and level, one referral with end-to-end
encrypted identity disclosure, one referral resolved to the receiver's own
record, and one Art. 14(5) feedback list, downloaded as Excel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc

from aidlink.matcher.monitoring.rules import LEVEL_NAMES, LEVELS, TYPE_NAMES
from aidlink.v1 import common_pb2, monitoring_pb2_grpc
from aidlink.v1 import monitoring_pb2 as pb

FEEDBACK_DEPARTMENTS = ("cdpf", "mem", "rural", "union")


def _mask(value: str) -> str:
    if len(value) <= 2:
        return value[:1] + "*"
    return value[:1] + "*" * (len(value) - 2) + value[-1:]


def _stub(deployment, department: str) -> monitoring_pb2_grpc.MonitoringGatewayStub:
    return monitoring_pb2_grpc.MonitoringGatewayStub(deployment.nodes[department].channel)


def _record_lookup(population, department: str, seed: int) -> Callable[[str], dict | None]:
    """The holding department's own system: record id -> the person's fields."""
    from aidlink.gateway.synthetic.extracts import department_extract

    rows = {r["rec_id"]: r for r in department_extract(population, department, seed=seed).rows}
    fields = ("name", "id_number", "birth_date", "sex", "phone", "address")
    return lambda record_id: {k: rows[record_id].get(k, "") for k in fields} if record_id in rows else None


def _walk_to_visited(mca, warning_id: int) -> None:
    mca.ChangeWarning(
        pb.WarningChange(
            id=warning_id, status="assigned", assignee="county office", note="demo: assigned for a home visit"
        )
    )
    mca.ChangeWarning(pb.WarningChange(id=warning_id, status="visited", note="demo: home visit done"))


def _show_routing(mca, say: Callable[..., None]) -> None:
    """Warnings as the county caseworker gets them: by the person's registered division, with the
    departments holding the person, the household and the suggested action."""
    from aidlink.gateway.normalize.divisions import jiangsu_divisions

    open_warnings = mca.ListWarnings(pb.WarningQuery(statuses=["new"], limit=10000)).warnings
    if not open_warnings:
        return
    unregistered = sum(w.warning.not_in_register for w in open_warnings)
    say(
        f"   {unregistered} of {len(open_warnings)} new warnings are about people not in mca's register "
        f"(Art. 11: found, not yet assisted); mca may ask the holder for the identity before the visit"
    )
    counties = Counter(w.warning.region for w in open_warnings if w.warning.region)
    if not counties:
        return
    county, _ = counties.most_common(1)[0]
    division = jiangsu_divisions().by_code.get(county)
    listing = mca.ListWarnings(pb.WarningQuery(region=county, statuses=["new"], limit=10000)).warnings
    say(
        f"   routed by the person's registered division ({len(counties)} counties and cities); "
        f"`aidlink monitoring warnings --region {county}` ({division.name if division else county}): "
        f"{len(listing)} warnings, e.g."
    )
    for item in listing[:3]:
        w = item.warning
        who = "not in mca's register" if w.not_in_register else f"mca record {', '.join(item.record_ids)}"
        say(
            f"     #{w.id} [{LEVEL_NAMES[w.level]} {TYPE_NAMES[w.type]}] held by {', '.join(w.departments)}; "
            f"{who}; household {w.household[:8] + '…' if w.household else '-'}"
        )
        say(f"        -> {w.action}")


def run_monitoring_demo(deployment, population, seed: int, say: Callable[..., None] = print) -> None:
    """Needs a LoopbackDeployment whose ten nodes have uploaded their extracts
    (made with department_extract(population, dept, seed=seed))."""
    say("\nMonitoring (Art. 14-18): the linkage graph over every department's latest upload")
    for dept in deployment.nodes:  # each node checks its inbox once: the matcher learns its certificate
        _stub(deployment, dept).SyncInbox(pb.SyncInboxRequest())
    mca = _stub(deployment, "mca")
    summary = mca.RebuildGraph(pb.RebuildGraphRequest())
    say(
        f"   {summary.records} records of {len(summary.datasets)} datasets -> {summary.clusters} person clusters "
        f"({summary.linked_clusters} linking two or more departments); rule set {summary.rule_set}"
    )
    counts = {(c.type, c.level): c.count for c in summary.open_warnings}
    types = sorted({t for t, _ in counts}, key=lambda t: -sum(n for (u, _), n in counts.items() if u == t))
    say(f"   {'open warnings by type and level':34}" + "".join(f"{l:>8}" for l in LEVELS))
    for t in types:
        label = f"{t} {TYPE_NAMES[t]}"
        say(f"   {label:{34 - len(TYPE_NAMES[t])}}" + "".join(f"{counts.get((t, l), 0):>8}" for l in LEVELS))

    _show_routing(mca, say)

    # One referral with disclosure: a 低保/特困 person without medical insurance, referred to 医保,
    # which does not hold them; mca's node seals the identity to nhsa's node.
    warnings = mca.ListWarnings(pb.WarningQuery(statuses=["new"], limit=10000)).warnings
    by_rule: dict[str, pb.LocalWarning] = {}
    for w in warnings:
        by_rule.setdefault(w.warning.rule_id, w)
    target = by_rule.get("pnd.no-medical-insurance")
    if target is not None:
        w = target.warning
        say(f"\n   Referral 分办、转介: warning {w.id} [{LEVEL_NAMES[w.level]} {TYPE_NAMES[w.type]}] {w.reason}")
        say(f"   mca's own record(s): {', '.join(target.record_ids)}; status new -> assigned -> visited -> referred")
        _walk_to_visited(mca, w.id)
        referral = mca.ReferWarning(
            pb.ReferRequest(warning_id=w.id, to_department="nhsa", note="please enrol in basic medical insurance")
        )
        say(
            f"   referral {referral.id} to nhsa: {referral.status} (agreement {referral.agreement}); "
            f"nhsa holds no record of this person, so mca's node is asked to disclose"
        )
        deployment.nodes["mca"].server.inbox.sync(record_lookup=_record_lookup(population, "mca", seed))
        inbox = _stub(deployment, "nhsa").SyncInbox(pb.SyncInboxRequest())
        entry = next(e for e in inbox.entries if e.item.referral_id == referral.id)
        identity = dict(entry.identity)
        say(
            f"   nhsa's node opened the identity sealed to its certificate (the matcher relayed "
            f"{len(entry.item.sealed_identity)} bytes of ciphertext): name {_mask(identity.get('name', ''))}, "
            f"ID {_mask(identity.get('id_number', ''))}"
        )
    school = by_rule.get("pnd.no-education-assistance")
    if school is not None:
        _walk_to_visited(mca, school.warning.id)
        referral = mca.ReferWarning(
            pb.ReferRequest(
                warning_id=school.warning.id, to_department="edu", note="education assistance not delivered"
            )
        )
        entry = next(
            e
            for e in _stub(deployment, "edu").SyncInbox(pb.SyncInboxRequest()).entries
            if e.item.referral_id == referral.id
        )
        say(
            f"   referral {referral.id} of warning {school.warning.id} [{TYPE_NAMES[school.warning.type]}] to edu: "
            f"resolved on edu's node to its own record {', '.join(entry.record_ids)}"
        )

    # Art. 14(5) feedback to a submitting department, about its own records only.
    for dept in FEEDBACK_DEPARTMENTS:
        if dept not in deployment.nodes:
            continue
        datasets = [m for m in deployment.matcher.store.list_latest() if m.department == dept]
        if not datasets:
            continue
        try:
            answer = _stub(deployment, dept).GetFeedback(
                pb.FeedbackRequest(my_dataset=datasets[0].name, purpose=common_pb2.POLICY_DELIVERY_CHECK)
            )
        except grpc.RpcError as exc:
            say(f"   feedback to {dept} refused: {exc.details()}")
            continue
        status = Counter(i.status for i in answer.items)
        say(
            f"\n   Feedback Art. 14(5) to {dept} on {answer.summary.my_dataset} ({answer.summary.my_records} "
            f"records, agreement {answer.summary.agreement}): {status.get('assisted', 0)} already covered by "
            f"social assistance, {status.get('monitored', 0)} under monitoring"
        )
        say(
            "   "
            + ", ".join(f"{i.record_id} {i.status}/{i.category}" for i in answer.items[:5])
            + (" ..." if len(answer.items) > 5 else "")
        )
        out = Path(deployment.root) / "results" / f"{dept}-feedback.xlsx"
        from aidlink.cli.downloads import write_table

        write_table(
            out, ["record_id", "status", "category"], [[i.record_id, i.status, i.category] for i in answer.items]
        )
        say(f"   downloaded (Art. 18) as {out}")
        break
