"""gRPC servicer for aidlink.v1.Gateway: the department's own systems call it
with raw records; it hands them to the GatewayNode and relays the matcher's
refusals with their status and message unchanged."""

from __future__ import annotations

import grpc

from aidlink.gateway.match_batches import LocalMatchBatch
from aidlink.gateway.node import CompareProgress, GatewayNode, LocalMatch, RowRefused
from aidlink.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc, matcher_pb2

MAX_LISTED_PROBLEMS = 200


def _relay(context: grpc.ServicerContext, exc: grpc.RpcError):
    from aidlink.gateway.matcher_errors import relay_matcher_error

    relay_matcher_error(context, exc)  # the matcher's code, message and google.rpc details


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):
    def __init__(self, node: GatewayNode) -> None:
        self.node = node

    def SubmitDataset(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a SubmitHeader")
        h = first.header

        def rows():
            for chunk in request_iterator:
                if chunk.WhichOneof("part") != "rows":
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only one header is allowed")
                for row in chunk.rows.rows:
                    yield dict(row.fields)

        try:
            result = self.node.submit(
                h.dataset,
                h.catalog_entry,
                h.catalog_version,
                rows(),
                id_column=h.id_column or "rec_id",
                attributes=list(h.attributes),
            )
        except grpc.RpcError as exc:
            _relay(context, exc)
        return gateway_pb2.SubmitSummary(
            dataset=result.dataset,
            version=result.version,
            rows=result.rows,
            uploaded=result.uploaded,
            problems=[
                gateway_pb2.RowProblem(row=p.row, record_id=p.record_id, field=p.field, reason=p.reason, kept=p.kept)
                for p in result.problems[:MAX_LISTED_PROBLEMS]
            ],
            problem_count=len(result.problems),
            rows_flagged=result.rows_flagged,
        )

    def CompareDataset(self, request, context):
        try:
            for event in self.node.compare_events(
                request.my_dataset, request.other_dataset, request.purpose, request.threshold, request.all_pairs
            ):
                if isinstance(event, CompareProgress):
                    yield gateway_pb2.GatewayCompareEvent(
                        progress=matcher_pb2.CompareProgress(done=event.done, total=event.total, stage="compare")
                    )
                elif isinstance(event, LocalMatchBatch):
                    yield gateway_pb2.GatewayCompareEvent(matches=event.message)
                elif isinstance(event, LocalMatch):
                    yield gateway_pb2.GatewayCompareEvent(
                        match=gateway_pb2.LocalMatch(
                            record_id=event.record_id,
                            score=event.score,
                            attributes=event.attributes,
                            disputed=event.disputed,
                        )
                    )
                else:
                    yield gateway_pb2.GatewayCompareEvent(
                        summary=gateway_pb2.GatewayCompareSummary(
                            my_dataset=event.my_dataset,
                            other_dataset=event.other_dataset,
                            matches=event.matches,
                            my_records=event.my_records,
                            agreement=event.agreement,
                            notice=common_pb2.ResultNotice(text=event.notice),
                        )
                    )
        except grpc.RpcError as exc:
            _relay(context, exc)

    def CheckPerson(self, request, context):
        try:
            result = self.node.check_person(dict(request.fields), request.dataset, request.purpose, request.threshold)
        except RowRefused as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the person's fields are invalid: {exc}")
        except grpc.RpcError as exc:
            _relay(context, exc)
        return gateway_pb2.CheckPersonResponse(
            found=result.found,
            score=result.score,
            attributes=result.attributes,
            agreement=result.agreement,
            flags=result.flags,
            disputed=result.disputed,
            notice=common_pb2.ResultNotice(text=result.notice),
        )
