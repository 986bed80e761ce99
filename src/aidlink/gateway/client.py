"""A department system's client of its gateway node's aidlink.v1.Gateway API (used by
`aidlink gateway submit` and the demo): raw rows go only to the department's own node."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from aidlink.v1 import gateway_pb2, gateway_pb2_grpc

SUBMIT_BATCH = 1000


def submit_rows(
    stub: gateway_pb2_grpc.GatewayStub,
    header: gateway_pb2.SubmitHeader,
    rows: Sequence[Mapping[str, str]],
    batch: int = SUBMIT_BATCH,
) -> gateway_pb2.SubmitSummary:
    """Stream `header`, then `rows` in batches of `batch`, to the node; its summary names every
    problem by 1-based position in `rows` (grpc.RpcError if the node or the matcher refuses)."""

    def chunks() -> Iterator[gateway_pb2.SubmitChunk]:
        yield gateway_pb2.SubmitChunk(header=header)
        for i in range(0, len(rows), batch):
            yield gateway_pb2.SubmitChunk(
                rows=gateway_pb2.RawRowBatch(rows=[gateway_pb2.RawRow(fields=r) for r in rows[i : i + batch]])
            )

    summary: gateway_pb2.SubmitSummary = stub.SubmitDataset(chunks())
    return summary
