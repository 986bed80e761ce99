"""The node's one client of the matcher's aidlink.v1.Matcher API: the upload stream (in
batches), the compare stream (progress, matches, summary) and the one-person status query.

It turns the record pipeline's wire-free records into protobuf messages (`upload_header`,
`encoded_record`, also used by the offline bundle export so both carry identical messages)
and the matcher's answers back into plain values; references stay references here, the node
resolves them. gRPC errors propagate unchanged (grpc.RpcError) for the node's API to relay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from aidlink.gateway.match_batches import RemoteMatchBatch
from aidlink.gateway.pipeline import EncodingParameters, PreparedRecord
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

UPLOAD_BATCH = 2000


@dataclass(frozen=True)
class RejectedRecord:
    """A record the matcher refused after the node encoded it."""

    ref: str
    field: str
    reason: str


@dataclass(frozen=True)
class UploadOutcome:
    dataset: str  # qualified: "<department>/<dataset>"
    version: int
    accepted: int
    rejected: tuple[RejectedRecord, ...]


@dataclass(frozen=True)
class CompareProgress:
    done: int
    total: int


@dataclass(frozen=True)
class RemoteMatch:
    my_ref: str
    score: float
    attributes: dict[str, str]
    disputed: bool


@dataclass(frozen=True)
class CompareSummary:
    my_dataset: str
    other_dataset: str
    my_records: int
    matches: int
    agreement: str
    notice: str


@dataclass(frozen=True)
class StatusAnswer:
    found: bool
    score: float
    attributes: dict[str, str]
    agreement: str
    notice: str
    disputed: bool


def encoding_info(parameters: EncodingParameters) -> common_pb2.EncodingInfo:
    return common_pb2.EncodingInfo(
        bits=parameters.bits, secret_version=parameters.secret_version, schema_fingerprint=parameters.schema_fingerprint
    )


def upload_header(
    dataset: str, catalog_entry: str, catalog_version: str, parameters: EncodingParameters, attributes: Sequence[str]
) -> matcher_pb2.UploadHeader:
    return matcher_pb2.UploadHeader(
        dataset=dataset,
        catalog_entry=catalog_entry,
        catalog_version=catalog_version,
        encoding=encoding_info(parameters),
        attributes=list(attributes),
    )


def encoded_record(record: PreparedRecord) -> matcher_pb2.EncodedRecord:
    return matcher_pb2.EncodedRecord(
        ref=record.ref,
        encoding=record.encoding,
        attributes=record.attributes,
        blocking_keys=list(record.blocking_tokens),
    )


class MatcherClient:
    def __init__(
        self, stub: matcher_pb2_grpc.MatcherStub, parameters: EncodingParameters, batch: int = UPLOAD_BATCH
    ) -> None:
        self.stub = stub
        self.parameters = parameters
        self.encoding_info = encoding_info(parameters)
        self.batch = batch

    def upload(
        self,
        dataset: str,
        catalog_entry: str,
        catalog_version: str,
        attributes: Sequence[str],
        records: Iterable[PreparedRecord],
        *,
        after_batch: Callable[[], None] | None = None,
    ) -> UploadOutcome:
        """Stream the header, then the records in batches of `batch` (read lazily from `records`);
        `after_batch` is called after each full batch is handed to the stream."""

        def chunks() -> Iterator[matcher_pb2.UploadChunk]:
            yield matcher_pb2.UploadChunk(
                header=upload_header(dataset, catalog_entry, catalog_version, self.parameters, attributes)
            )
            batch: list[matcher_pb2.EncodedRecord] = []
            for record in records:
                batch.append(encoded_record(record))
                if len(batch) >= self.batch:
                    yield matcher_pb2.UploadChunk(batch=matcher_pb2.RecordBatch(records=batch))
                    batch = []
                    if after_batch:
                        after_batch()
            if batch:
                yield matcher_pb2.UploadChunk(batch=matcher_pb2.RecordBatch(records=batch))

        summary = self.stub.UploadDataset(chunks())
        return UploadOutcome(
            summary.dataset,
            summary.version,
            summary.accepted,
            tuple(RejectedRecord(p.ref, p.field, p.reason) for p in summary.rejected),
        )

    def compare(
        self,
        my_dataset: str,
        other_dataset: str,
        purpose: common_pb2.Purpose,
        threshold: float = 0.0,
        all_pairs: bool = False,
    ) -> Iterator[CompareProgress | RemoteMatch | RemoteMatchBatch | CompareSummary]:
        """The matcher's answer as it streams: progress, matches (by reference; in batches from a
        batching matcher, one by one from an older one), then the summary; RuntimeError if the
        stream ends without a summary, ValueError on a batch whose columns do not line up."""
        summary = None
        for event in self.stub.CompareDatasets(
            matcher_pb2.CompareRequest(
                my_dataset=my_dataset,
                other_dataset=other_dataset,
                purpose=purpose,
                threshold=threshold,
                all_pairs=all_pairs,
            )
        ):
            kind = event.WhichOneof("event")
            if kind == "progress":
                yield CompareProgress(event.progress.done, event.progress.total)
            elif kind == "match":
                m = event.match
                yield RemoteMatch(m.my_ref, m.score, dict(m.attributes), m.disputed)
            elif kind == "matches":
                yield RemoteMatchBatch(event.matches)
            elif kind == "summary":
                s = event.summary
                summary = CompareSummary(
                    s.my_dataset, s.other_dataset, s.my_records, s.matches, s.agreement, s.notice.text
                )
                yield summary
        if summary is None:
            raise RuntimeError("the matcher ended the comparison without a summary")

    def query_status(
        self, dataset: str, encoding: bytes, purpose: common_pb2.Purpose, threshold: float = 0.0
    ) -> StatusAnswer:
        answer = self.stub.QueryStatus(
            matcher_pb2.StatusQuery(
                dataset=dataset,
                encoding=encoding,
                encoding_info=self.encoding_info,
                purpose=purpose,
                threshold=threshold,
            )
        )
        return StatusAnswer(
            answer.found, answer.score, dict(answer.attributes), answer.agreement, answer.notice.text, answer.disputed
        )
