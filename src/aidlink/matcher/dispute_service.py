"""gRPC servicer for aidlink.v1.Disputes (Art. 20, 23). Every call is audited by the
interceptor; this module fills in purpose "data-correction", the agreement, the
datasets and the dispute id (as "dispute:<id>" in the entry's datasets). Domain
refusals are raised and answered by the error-mapping interceptor."""

from __future__ import annotations

from aidlink.matcher.calls import current_call
from aidlink.matcher.datasets import EncodingSpec
from aidlink.matcher.disputes import Dispute, DisputeDesk
from aidlink.matcher.errors import InvalidInput
from aidlink.matcher.purposes import purpose_name
from aidlink.result_notice import NOTICE
from aidlink.v1 import common_pb2, disputes_pb2, disputes_pb2_grpc

PURPOSE = "data-correction"
ACTIONS = {disputes_pb2.ACKNOWLEDGE: "acknowledge", disputes_pb2.CONFIRM: "confirm", disputes_pb2.REJECT: "reject"}


def dispute_message(d: Dispute, viewer: str, overdue: bool) -> disputes_pb2.Dispute:
    """The dispute as `viewer` may see it: each side sees only its own record reference."""
    return disputes_pb2.Dispute(
        id=d.id,
        state=d.state,
        flagged_by=d.flagged_by,
        provider=d.provider,
        user_dataset=d.user_dataset,
        user_version=d.user_version,
        user_ref=d.user_ref if viewer == d.flagged_by else "",
        provider_dataset=d.provider_dataset,
        provider_version=d.provider_version,
        provider_ref=d.provider_ref if viewer == d.provider else "",
        catalog_entry=d.catalog_entry,
        agreement=d.agreement,
        reason=d.reason,
        answer=d.answer,
        created=d.created,
        due=d.due,
        overdue=overdue,
        corrected_version=d.corrected_version,
        updated=d.updated,
        notice=common_pb2.ResultNotice(text=NOTICE),
    )


class DisputesServicer(disputes_pb2_grpc.DisputesServicer):
    def __init__(self, desk: DisputeDesk) -> None:
        self.desk = desk

    def _answer(self, d: Dispute, department: str) -> disputes_pb2.Dispute:
        call = current_call()
        call.purpose, call.agreement = PURPOSE, d.agreement
        call.datasets = [
            f"{d.provider_dataset}@v{d.provider_version}",
            f"{d.user_dataset}@v{d.user_version}",
            f"dispute:{d.id}",
        ]
        call.counts = {"records": 1}
        return dispute_message(d, department, d.overdue(self.desk.today()))

    def Flag(self, request, context):
        call = current_call()
        call.purpose = PURPOSE
        call.datasets = [request.my_dataset, request.other_dataset]
        try:
            matched_under = purpose_name(request.purpose)
        except ValueError as exc:
            raise InvalidInput(f"purpose: {exc}") from None
        d = self.desk.flag(
            call.verified_caller.department,
            request.my_dataset,
            request.my_ref,
            request.other_dataset,
            matched_under,
            request.reason,
            request.threshold,
        )
        return self._answer(d, call.verified_caller.department)

    def Respond(self, request, context):
        call = current_call()
        call.purpose, call.datasets = PURPOSE, [f"dispute:{request.dispute_id}"]
        action = ACTIONS.get(request.action)
        if action is None:
            raise InvalidInput("action: must be ACKNOWLEDGE, CONFIRM or REJECT")
        d = self.desk.respond(call.verified_caller.department, request.dispute_id, action, request.reason)
        return self._answer(d, call.verified_caller.department)

    def CorrectRecord(self, request, context):
        call = current_call()
        call.purpose, call.datasets = PURPOSE, [f"dispute:{request.dispute_id}"]
        info = request.encoding_info
        d = self.desk.correct(
            call.verified_caller.department,
            request.dispute_id,
            request.encoding,
            EncodingSpec(info.bits, info.secret_version, info.schema_fingerprint),
            dict(request.attributes),
            list(request.blocking_keys),
            request.reason,
        )
        answer = self._answer(d, call.verified_caller.department)
        call.datasets.insert(1, f"{d.provider_dataset}@v{d.corrected_version}")
        return answer

    def ListDisputes(self, request, context):
        call = current_call()
        call.purpose = PURPOSE
        department = call.verified_caller.department
        found = self.desk.list(department, request.role, request.open_only)
        today = self.desk.today()
        call.counts = {"disputes": len(found), "overdue": sum(d.overdue(today) for d in found)}
        return disputes_pb2.ListDisputesResponse(
            disputes=[dispute_message(d, department, d.overdue(today)) for d in found]
        )

    def Inbox(self, request, context):
        call = current_call()
        call.purpose = PURPOSE
        department = call.verified_caller.department
        # A long poll whose caller goes away (cancelled, deadline passed) stops waiting at once,
        # so it gives back its worker and its place among the department's streams.
        context.add_callback(self.desk.wake)
        events = self.desk.events(department, request.after, request.wait_seconds, gone=lambda: not context.is_active())
        call.counts = {"events": len(events), "after": request.after}
        call.datasets = sorted({f"dispute:{e.dispute.id}" for e in events})
        today = self.desk.today()
        for e in events:
            yield disputes_pb2.DisputeEvent(
                seq=e.seq, kind=e.kind, dispute=dispute_message(e.dispute, department, e.dispute.overdue(today))
            )
