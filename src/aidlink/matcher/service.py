"""gRPC servicer for aidlink.v1.Matcher: translates between the wire and the
domain (`Exchange`). Authentication, audit, error mapping, metrics and tracing are
interceptors; this module only fills in what the audit entry needs to know, and
raises domain refusals (matcher.errors) for the error-mapping interceptor to answer."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator, Sequence

import grpc
from prometheus_client import Counter

from aidlink.matcher.calls import current_call
from aidlink.matcher.datasets import EncodingSpec
from aidlink.matcher.error_mapping import CallerGone, too_late
from aidlink.matcher.errors import InvalidInput
from aidlink.matcher.exchange import Exchange, UploadProblem
from aidlink.matcher.purposes import purpose_name
from aidlink.matcher.request_fields import dataset_name_problem
from aidlink.matcher.result_messages import MAX_BATCH_BYTES, match_batches, summary_message
from aidlink.result_notice import NOTICE
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

MAX_LISTED_PROBLEMS = 100


def refused_records_note(problems: Sequence[UploadProblem]) -> str:
    """The rules that refused records of an upload, for its audit entry: per field, how many and the
    first (the reasons name the rule and never repeat a refused value)."""
    first: dict[str, UploadProblem] = {}
    count: dict[str, int] = {}
    for p in problems:
        first.setdefault(p.field, p)
        count[p.field] = count.get(p.field, 0) + 1
    parts = [
        f"{name} x{n} (first: record {first[name].index}, ref {first[name].ref}: {first[name].reason})"
        for name, n in sorted(count.items(), key=lambda item: -item[1])
    ]
    note = "records refused: " + "; ".join(parts) if parts else ""
    return note if len(note) <= 2000 else note[:1997] + "..."


class _Cancelled(Exception):
    """The caller went away; the comparison stops at its next progress report."""


class _CompareJob:
    """Runs Exchange.compare in a worker thread, handing its progress to the stream."""

    def __init__(
        self,
        exchange: Exchange,
        department: str,
        request: matcher_pb2.CompareRequest,
        purpose: str,
        context: grpc.ServicerContext,
    ) -> None:
        self._events: queue.Queue = queue.Queue()
        self._context = context
        # The worker runs in a copy of the caller's context, so its spans join the call's trace.
        call_context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=call_context.run,
            name="aidlink-compare",
            daemon=True,
            args=(self._run, exchange, department, request, purpose),
        )
        self._thread.start()

    def _report(self, done: int, total: int) -> None:
        if not self._context.is_active():
            raise _Cancelled()
        self._events.put(("progress", (done, total)))

    def _run(self, exchange, department, request, purpose) -> None:
        try:
            result = exchange.compare(
                department,
                request.my_dataset,
                request.other_dataset,
                purpose,
                request.threshold,
                request.all_pairs,
                progress=self._report,
            )
            self._events.put(("result", result))
        except BaseException as exc:  # handed to the serving thread, which decides
            self._events.put(("error", exc))

    def progress(self) -> Iterator[tuple[int, int]]:
        """Progress reports until the comparison ends; then `result` is ready."""
        while True:
            kind, value = self._events.get()
            if kind != "progress":
                self._outcome = (kind, value)
                return
            yield value

    def result(self):
        kind, value = self._outcome
        if kind == "error":
            raise value
        if not self._context.is_active():  # the caller left while the last part ran: no answer
            raise _Cancelled()
        return value


def _spec(info: common_pb2.EncodingInfo) -> EncodingSpec:
    return EncodingSpec(info.bits, info.secret_version, info.schema_fingerprint)


def _purpose(value: int) -> str:
    try:
        return purpose_name(value)
    except ValueError as exc:
        raise InvalidInput(f"purpose: {exc}") from None


class MatcherServicer(matcher_pb2_grpc.MatcherServicer):
    def __init__(self, exchange: Exchange, registry=None, batch_bytes: int = MAX_BATCH_BYTES) -> None:
        self.exchange = exchange
        self.batch_bytes = batch_bytes  # the most serialized bytes of matches one CompareEvent carries
        kwargs = {"registry": registry} if registry is not None else {}
        self.records_uploaded = Counter(
            "aidlink_records_uploaded", "Encoded records accepted", ["department"], **kwargs
        )
        self.records_rejected = Counter("aidlink_records_rejected", "Encoded records refused", ["department"], **kwargs)
        self.pairs_compared = Counter("aidlink_pairs_compared", "Encoding pairs compared", **kwargs)

    # -- upload ---------------------------------------------------------------------------------
    def UploadDataset(self, request_iterator: Iterator[matcher_pb2.UploadChunk], context):
        call = current_call()
        department = call.verified_caller.department
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidInput("the first upload message must be a header", field="header")
        h = first.header
        name_problem = dataset_name_problem(h.dataset)
        if name_problem:  # before the name goes into the audit entry: the entry gets its size, not its content
            raise InvalidInput(f"header.dataset: {name_problem}")
        call.datasets = [f"{department}/{h.dataset}"]
        writer = self.exchange.begin_upload(
            department, h.dataset, h.catalog_entry, h.catalog_version, _spec(h.encoding), h.attributes
        )
        problems, index = [], 0
        try:
            for chunk in request_iterator:
                if chunk.WhichOneof("part") != "batch":
                    raise InvalidInput(f"message after record {index}: only one header is allowed")
                for rec in chunk.batch.records:
                    problem = self.exchange.add_record(
                        writer, index, rec.ref, rec.encoding, rec.attributes, rec.blocking_keys
                    )
                    if problem:
                        problems.append(problem)
                    index += 1
            # A request stream cut short by the caller's deadline can end as if it were complete:
            # commit nothing the caller no longer waits for (it may be a truncated upload).
            if too_late(context):
                raise CallerGone(f"the caller went away after record {index}; the upload was not stored")
            meta = writer.commit()
        except BaseException:
            writer.abort()
            raise
        call.datasets = [f"{meta.qualified_name}@v{meta.version}"]
        call.counts = {"records": index, "accepted": meta.records, "rejected": len(problems)}
        call.note = refused_records_note(problems)
        self.records_uploaded.labels(department).inc(meta.records)
        self.records_rejected.labels(department).inc(len(problems))
        return matcher_pb2.UploadSummary(
            dataset=meta.qualified_name,
            version=meta.version,
            accepted=meta.records,
            rejected=[
                matcher_pb2.RecordProblem(index=p.index, ref=p.ref, field=p.field, reason=p.reason)
                for p in problems[:MAX_LISTED_PROBLEMS]
            ],
            rejected_count=len(problems),
        )

    # -- comparison -----------------------------------------------------------------------------
    def CompareDatasets(self, request: matcher_pb2.CompareRequest, context):
        call = current_call()
        call.purpose = _purpose(request.purpose)
        call.datasets = [request.my_dataset, request.other_dataset]
        job = _CompareJob(self.exchange, call.verified_caller.department, request, call.purpose, context)
        call.preliminary = True  # progress events carry no data about persons
        for done, total in job.progress():
            yield matcher_pb2.CompareEvent(
                progress=matcher_pb2.CompareProgress(done=done, total=total, stage="compare")
            )
        call.preliminary = False
        result = job.result()
        call.agreement = result.agreement.id
        call.datasets = [
            f"{result.mine.qualified_name}@v{result.mine.version}",
            f"{result.other.qualified_name}@v{result.other.version}",
        ]
        call.counts = result.audit_counts()
        self.pairs_compared.inc(result.comparisons)
        for batch in match_batches(result.matches, self.batch_bytes):
            yield matcher_pb2.CompareEvent(matches=batch)
        yield matcher_pb2.CompareEvent(summary=summary_message(result))

    # -- single status query ----------------------------------------------------------------------
    def QueryStatus(self, request: matcher_pb2.StatusQuery, context):
        call = current_call()
        call.purpose = _purpose(request.purpose)
        call.datasets = [request.dataset]
        result = self.exchange.status(
            call.verified_caller.department,
            request.dataset,
            request.encoding,
            _spec(request.encoding_info),
            call.purpose,
            request.threshold,
        )
        call.agreement = result.agreement.id
        call.datasets = [f"{result.dataset.qualified_name}@v{result.dataset.version}"]
        call.counts = {"queries": 1, "found": int(result.found)}
        self.pairs_compared.inc(result.dataset.records)
        return matcher_pb2.StatusAnswer(
            found=result.found,
            score=result.score,
            attributes=result.attributes,
            dataset=result.dataset.qualified_name,
            version=result.dataset.version,
            agreement=result.agreement.id,
            notice=common_pb2.ResultNotice(text=NOTICE),
            disputed=result.disputed,
        )

    def ListDatasets(self, request, context):
        call = current_call()
        visible = self.exchange.visible_datasets(call.verified_caller.department)
        call.counts = {"datasets": len(visible)}
        return matcher_pb2.ListDatasetsResponse(
            datasets=[
                matcher_pb2.DatasetInfo(
                    dataset=m.qualified_name,
                    version=m.version,
                    catalog_entry=m.catalog_entry,
                    catalog_version=m.catalog_version,
                    records=m.records,
                    encoding=common_pb2.EncodingInfo(
                        bits=m.encoding.bits,
                        secret_version=m.encoding.secret_version,
                        schema_fingerprint=m.encoding.schema_fingerprint,
                    ),
                    agreements=ids,
                )
                for m, ids in visible
            ]
        )
