"""gRPC servicer for aidlink.v1.Monitoring: the wire side of `Monitor`. The matcher's
interceptors authenticate and audit every call and answer domain refusals; this
fills in purpose, agreement, datasets and counts, and raises the refusals."""

from __future__ import annotations

import base64
import threading

from aidlink.matcher.calls import current_call
from aidlink.matcher.errors import InvalidInput, Refused
from aidlink.matcher.monitoring.monitor import Monitor, WarningContext
from aidlink.matcher.monitoring.rules import LEVELS, TYPES
from aidlink.matcher.monitoring.store import ReferralRow, WarningRow
from aidlink.matcher.monitoring.warnings import LEAD_DEPARTMENTS, STATUSES, check_lead
from aidlink.matcher.purposes import purpose_name
from aidlink.matcher.request_fields import stored_integer
from aidlink.result_notice import NOTICE
from aidlink.v1 import common_pb2, monitoring_pb2_grpc
from aidlink.v1 import monitoring_pb2 as pb

MAX_WARNINGS = 10000
# A subscriber also looks for news this often without being woken (an item stored by another
# matcher replica, which cannot wake this process). Within one matcher, news is pushed at once.
SUBSCRIPTION_RECHECK_S = 30.0
SUBSCRIPTION_BATCH = 100


def _notice() -> common_pb2.ResultNotice:
    return common_pb2.ResultNotice(text=NOTICE)


def warning_message(w: WarningRow, context: WarningContext | None = None) -> pb.RiskWarning:
    c = context or WarningContext([], [], "", False, "")
    return pb.RiskWarning(
        id=w.id,
        rule_id=w.rule_id,
        rule_set=w.rule_set,
        type=w.type,
        level=w.level,
        reason=w.reason,
        cluster_id=w.cluster_id,
        region=w.region,
        subject_dataset=w.subject_dataset,
        status=w.status,
        assignee=w.assignee,
        created_at=w.created_at,
        updated_at=w.updated_at,
        my_records=[pb.RecordRef(dataset=d, ref=r) for d, r in c.own_refs],
        departments=c.departments,
        household=c.household,
        action=c.action,
        not_in_register=c.not_in_register,
    )


def referral_message(r: ReferralRow) -> pb.ReferralInfo:
    return pb.ReferralInfo(
        id=r.id,
        warning_id=r.warning_id,
        from_department=r.from_department,
        to_department=r.to_department,
        status=r.status,
        agreement=r.agreement,
        outcome=r.outcome,
        disclosed=r.disclosure is not None,
    )


def inbox_message(seq: int, kind: str, referral_id: int, p: dict) -> pb.ReferralInboxItem:
    records = [pb.RecordRef(dataset=d, ref=r) for d, r in p.get("refs", [])]
    if kind == "disclosure-request":
        records = [pb.RecordRef(dataset=p["dataset"], ref=p["ref"])]
    return pb.ReferralInboxItem(
        seq=seq,
        kind=kind,
        referral_id=referral_id,
        warning_id=p.get("warning_id", 0),
        rule_id=p.get("rule_id", ""),
        type=p.get("type", ""),
        level=p.get("level", ""),
        reason=p.get("reason", ""),
        from_department=p.get("from", ""),
        note=p.get("note", ""),
        agreement=p.get("agreement", ""),
        records=records,
        sealed_identity=base64.b64decode(p["disclosure"]) if p.get("disclosure") else b"",
        disclosed_by=p.get("disclosed_by", ""),
        recipient=p.get("recipient", ""),
        recipient_certificate=p.get("recipient_certificate", "").encode(),
        status=p.get("status", ""),
        outcome=p.get("outcome", ""),
    )


def _choices(values, allowed, field: str) -> list[str]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InvalidInput(f"{field}: {', '.join(bad)} not one of {', '.join(allowed)}")
    return list(values)


def _region_prefix(code: str) -> str:
    if code and (not code.isdigit() or len(code) > 12):
        raise InvalidInput(f"region: {code!r} is not a division code")
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


class Subscriptions:
    """One subscription per department: a newer one ends the older (a node that reconnects after
    a dropped connection is not refused by its own dead stream, and holds one stream, not more)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, object] = {}

    def take(self, department: str) -> object:
        token = object()
        with self._lock:
            self._current[department] = token
        return token

    def holds(self, department: str, token: object) -> bool:
        with self._lock:
            return self._current.get(department) is token

    def release(self, department: str, token: object) -> None:
        with self._lock:
            if self._current.get(department) is token:
                del self._current[department]


class MonitoringServicer(monitoring_pb2_grpc.MonitoringServicer):
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.subscriptions = Subscriptions()

    def _message(self, w: WarningRow, department: str) -> pb.RiskWarning:
        return warning_message(w, self.monitor.context(w, department))

    def _begin(self, context, purpose: str):
        call = current_call()
        call.purpose = purpose
        certs = context.auth_context().get("x509_pem_cert") or [b""]
        cert = certs[0].decode() if isinstance(certs[0], bytes) else certs[0]
        self.monitor.node_seen(call.verified_caller, cert)
        return call

    def RebuildGraph(self, request, context):
        call = self._begin(context, "risk-monitoring")
        check_lead(call.verified_caller, "rebuilding the linkage graph")
        s = self.monitor.rebuild()
        call.datasets = list(s.datasets)
        call.counts = {
            "records": s.records,
            "clusters": s.clusters,
            "linked_clusters": s.linked_clusters,
            "raised": s.raised,
            "auto_closed": s.auto_closed,
        }
        return pb.GraphSummary(
            datasets=s.datasets,
            records=s.records,
            clusters=s.clusters,
            linked_clusters=s.linked_clusters,
            households=s.households,
            rule_set=s.rule_set,
            raised=s.raised,
            auto_closed=s.auto_closed,
            open_warnings=[
                pb.TypeLevelCount(type=t, level=l, count=n) for (t, l), n in sorted(s.open_by_type_level.items())
            ],
            notice=_notice(),
        )

    def ListWarnings(self, request, context):
        call = self._begin(context, "risk-monitoring")
        limit = request.limit or 1000
        if limit > MAX_WARNINGS:
            raise InvalidInput(f"limit: at most {MAX_WARNINGS}")
        rows = self.monitor.warnings(
            call.verified_caller,
            levels=_choices(request.levels, LEVELS, "levels"),
            types=_choices(request.types, TYPES, "types"),
            statuses=_choices(request.statuses, STATUSES, "statuses"),
            region_prefix=_region_prefix(request.region),
            after_id=request.after_id,
            limit=limit,
        )
        call.counts = {"warnings": len(rows)}
        dept = call.verified_caller.department
        return pb.WarningList(warnings=[self._message(w, dept) for w in rows], notice=_notice())

    def GetWarning(self, request, context):
        call = self._begin(context, "risk-monitoring")
        w = self.monitor.warning(call.verified_caller, request.id)
        call.counts = {"warning": w.id}
        store = self.monitor.store
        return pb.WarningDetail(
            warning=self._message(w, call.verified_caller.department),
            history=[
                pb.WarningEventInfo(
                    at=e.at,
                    department=e.department,
                    identity=e.identity,
                    action=e.action,
                    from_status=e.from_status,
                    to_status=e.to_status,
                    assignee=e.assignee,
                    note=e.note,
                )
                for e in store.warning_events(w.id)
            ],
            referrals=[referral_message(r) for r in store.referrals(warning_id=w.id)],
        )

    def ChangeWarning(self, request, context):
        call = self._begin(context, "risk-monitoring")
        call.counts = {"warning": request.id}
        w = self.monitor.lifecycle.change(
            request.id, request.status, call.verified_caller, assignee=request.assignee, note=request.note
        )
        return self._message(w, call.verified_caller.department)

    def ReferWarning(self, request, context):
        call = self._begin(context, "referral")
        call.counts = {"warning": request.warning_id}
        r = self.monitor.referrals.refer(request.warning_id, request.to_department, call.verified_caller, request.note)
        call.agreement = r.agreement
        call.counts = {"warning": r.warning_id, "referral": r.id, "recipient_records": len(r.recipient_refs)}
        return referral_message(r)

    def FetchInbox(self, request, context):
        call = self._begin(context, "referral")
        rows = self.monitor.referrals.fetch(call.verified_caller.department, request.after, request.limit or 100)
        call.counts = {"after": request.after, "items": len(rows)}
        return pb.ReferralInboxBatch(
            items=[inbox_message(r.seq, r.kind, r.referral_id, r.payload) for r in rows], acknowledged=request.after
        )

    def SubmitDisclosure(self, request, context):
        call = self._begin(context, "referral")
        call.counts = {"referral": request.referral_id, "sealed_bytes": len(request.sealed_identity)}
        r = self.monitor.referrals.submit_disclosure(
            request.referral_id, call.verified_caller, request.sealed_identity, request.declined_reason
        )
        call.agreement = r.agreement
        return referral_message(r)

    def ReportReferral(self, request, context):
        call = self._begin(context, "referral")
        call.counts = {"referral": request.referral_id}
        r = self.monitor.referrals.report(request.referral_id, call.verified_caller, request.outcome)
        return referral_message(r)

    def Subscribe(self, request, context):
        """Pushes the department's inbox items and (civil affairs) new warnings as they arise,
        until the caller goes away, its deadline nears, or a newer subscription replaces this one."""
        call = self._begin(context, "referral")
        department = call.verified_caller.department
        # validates the cursor and acknowledges what the node has stored (as FetchInbox does)
        self.monitor.referrals.fetch(department, request.after, 1)
        after, warnings_after = request.after, stored_integer(request.warnings_after, "warnings_after")
        lead = department in LEAD_DEPARTMENTS
        token = self.subscriptions.take(department)
        self.monitor.wake()  # an older subscription of the department ends
        context.add_callback(self.monitor.wake)  # a caller gone away ends its wait at once
        counts = call.counts = {"after": after, "items": 0, "warnings": 0}

        def live() -> bool:
            remaining = context.time_remaining()
            return (
                context.is_active()
                and not self.monitor.closing
                and self.subscriptions.holds(department, token)
                and (remaining is None or remaining > 1.0)  # end cleanly before the caller's deadline
            )

        try:
            while live():
                generation = self.monitor.generation
                items = self.monitor.store.inbox(department, after, SUBSCRIPTION_BATCH)
                for r in items:
                    counts["items"] += 1
                    yield pb.MonitoringEvent(item=inbox_message(r.seq, r.kind, r.referral_id, r.payload))
                    after = r.seq
                warnings = (
                    self.monitor.store.find_warnings(after_id=warnings_after, limit=SUBSCRIPTION_BATCH) if lead else []
                )
                for w in warnings:
                    counts["warnings"] += 1
                    yield pb.MonitoringEvent(warning=self._message(w, department))
                    warnings_after = w.id
                if not items and not warnings:
                    remaining = context.time_remaining()
                    wait = SUBSCRIPTION_RECHECK_S if remaining is None else min(SUBSCRIPTION_RECHECK_S, remaining - 1.0)
                    self.monitor.wait_for_change(generation, max(wait, 0.0))
            if context.is_active() and not self.subscriptions.holds(department, token):
                raise Refused(
                    f"this subscription of {department} was replaced by a newer one (one per department); "
                    f"the older stream ends"
                )
        finally:
            self.subscriptions.release(department, token)

    def GetFeedback(self, request, context):
        try:
            purpose = purpose_name(request.purpose)
        except ValueError as exc:
            self._begin(context, "")
            raise InvalidInput(f"purpose: {exc}") from None
        call = self._begin(context, purpose)
        call.datasets = [request.my_dataset]
        fb = self.monitor.feedback(call.verified_caller, request.my_dataset, purpose)
        call.agreement = fb.agreement.id
        call.datasets = [f"{fb.dataset.qualified_name}@v{fb.dataset.version}"]
        call.counts = {
            "my_records": fb.dataset.records,
            "assisted": sum(i.status == "assisted" for i in fb.items),
            "monitored": sum(i.status == "monitored" for i in fb.items),
        }
        return pb.FeedbackList(
            my_dataset=fb.dataset.qualified_name,
            my_version=fb.dataset.version,
            agreement=fb.agreement.id,
            my_records=fb.dataset.records,
            items=[pb.FeedbackItem(ref=i.ref, status=i.status, category=i.category) for i in fb.items],
            notice=_notice(),
        )


def add_to_server(server, monitor: Monitor) -> None:
    monitoring_pb2_grpc.add_MonitoringServicer_to_server(MonitoringServicer(monitor), server)
