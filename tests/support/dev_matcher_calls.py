"""Uploads and compares against a development-mode matcher (the caller's department in a header),
as the join-backend tests make them: one copy of the gRPC calls, however the rows were encoded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aidlink.gateway.match_batches import remote_matches
from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER
from aidlink.v1 import common_pb2, matcher_pb2


def upload_dataset(
    stub,
    department: str,
    name: str,
    entry: str,
    encodings: np.ndarray,
    *,
    schema_fingerprint: str,
    blocking_keys: Sequence[Sequence[bytes]] | None = None,
    attributes: dict[str, str] | None = None,
) -> None:
    """``encodings`` (one row per record, refs ``<department>-<row>``), each record with its row of
    ``blocking_keys`` and the same ``attributes``; every record must be accepted."""
    attributes = attributes or {}
    keys = blocking_keys if blocking_keys is not None else [()] * len(encodings)
    info = common_pb2.EncodingInfo(bits=encodings.shape[1] * 8, secret_version=1, schema_fingerprint=schema_fingerprint)

    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=name,
                catalog_entry=entry,
                catalog_version="2023.1",
                encoding=info,
                attributes=sorted(attributes),
            )
        )
        yield matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(
                records=[
                    matcher_pb2.EncodedRecord(
                        ref=f"{department}-{i}", encoding=row.tobytes(), attributes=attributes, blocking_keys=row_keys
                    )
                    for i, (row, row_keys) in enumerate(zip(encodings, keys))
                ]
            )
        )

    summary = stub.UploadDataset(chunks(), metadata=[(DEV_DEPARTMENT_HEADER, department)])
    assert summary.accepted == len(encodings)


def compare_datasets(stub, department: str, mine: str, other: str, threshold: float, all_pairs: bool):
    """(matches as (my_ref, score), the summary, the progress events) of one CompareDatasets call."""
    events = list(
        stub.CompareDatasets(
            matcher_pb2.CompareRequest(
                my_dataset=mine,
                other_dataset=other,
                purpose=common_pb2.POLICY_DELIVERY_CHECK,
                threshold=threshold,
                all_pairs=all_pairs,
            ),
            metadata=[(DEV_DEPARTMENT_HEADER, department)],
        )
    )
    matches = [(m.my_ref, m.score) for e in events for m in remote_matches(e)]
    [summary] = [e.summary for e in events if e.WhichOneof("event") == "summary"]
    progress = [e.progress for e in events if e.WhichOneof("event") == "progress"]
    return matches, summary, progress
