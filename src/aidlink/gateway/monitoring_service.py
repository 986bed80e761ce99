"""gRPC servicer for aidlink.v1.MonitoringGateway: the department's systems
manage warnings, read the referral inbox and feedback with their OWN record ids;
the node relays to the matcher (refusals unchanged) and resolves references."""

from __future__ import annotations

import grpc

from aidlink.gateway.inbox import ReferralInbox
from aidlink.gateway.referrals import DisclosureError
from aidlink.gateway.refs import ReferenceMap, UnknownReference
from aidlink.v1 import monitoring_pb2 as pb
from aidlink.v1 import monitoring_pb2_grpc


def _relay(context: grpc.ServicerContext, exc: grpc.RpcError):
    from aidlink.gateway.matcher_errors import relay_matcher_error

    relay_matcher_error(context, exc)  # the matcher's code, message and google.rpc details


class MonitoringGatewayServicer(monitoring_pb2_grpc.MonitoringGatewayServicer):
    def __init__(self, matcher: monitoring_pb2_grpc.MonitoringStub, inbox: ReferralInbox, refs: ReferenceMap) -> None:
        self.matcher, self.inbox, self.refs = matcher, inbox, refs

    def _local(self, refs) -> list[str]:
        out = []
        for r in refs:
            try:
                out.append(self.refs.resolve(r.ref))
            except UnknownReference:
                continue
        return out

    def _call(self, context, method: str, request):
        try:
            return getattr(self.matcher, method)(request)
        except grpc.RpcError as exc:
            _relay(context, exc)

    def RebuildGraph(self, request, context):
        return self._call(context, "RebuildGraph", request)

    def ListWarnings(self, request, context):
        answer = self._call(context, "ListWarnings", request)
        return pb.LocalWarningList(
            warnings=[pb.LocalWarning(warning=w, record_ids=self._local(w.my_records)) for w in answer.warnings],
            notice=answer.notice,
        )

    def ChangeWarning(self, request, context):
        return self._call(context, "ChangeWarning", request)

    def ReferWarning(self, request, context):
        return self._call(context, "ReferWarning", request)

    def ReportReferral(self, request, context):
        return self._call(context, "ReportReferral", request)

    def SyncInbox(self, request, context):
        try:
            fetched = self.inbox.sync()
        except grpc.RpcError as exc:
            _relay(context, exc)
        return pb.LocalInbox(
            fetched=fetched,
            entries=[
                pb.LocalInboxEntry(item=e.item, record_ids=e.record_ids, identity=e.identity, state=e.state)
                for e in self.inbox.entries(request.after)
            ],
        )

    def AnswerDisclosure(self, request, context):
        try:
            return self.inbox.answer_disclosure(
                request.referral_id, dict(request.fields) or None, request.declined_reason
            )
        except LookupError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except (ValueError, DisclosureError) as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except grpc.RpcError as exc:
            _relay(context, exc)

    def GetFeedback(self, request, context):
        answer = self._call(context, "GetFeedback", request)
        items = []
        for item in answer.items:
            local = self._local([item])
            if local:
                items.append(pb.LocalFeedbackItem(record_id=local[0], status=item.status, category=item.category))
        summary = pb.FeedbackList()
        summary.CopyFrom(answer)
        del summary.items[:]
        return pb.LocalFeedbackList(summary=summary, items=items)
