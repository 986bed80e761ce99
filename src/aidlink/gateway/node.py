"""A department's gateway node: the only place raw records become encodings.

It normalizes and encodes rows, uploads the encodings under opaque references,
and resolves the matcher's answers back to the department's own record ids.
What it sends the matcher: dataset names, catalog entry, encoding parameters,
references, encodings and the catalog-allowed attribute values. Nothing else.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import grpc

from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc
from aidlink.gateway.blocking import BlockingTokens
from aidlink.gateway.catalog_lookup import NodeCatalog
from aidlink.gateway.encoding import Encoder, LinkageSchema, RecordError
from aidlink.gateway.normalize.issues import RowRejected
from aidlink.gateway.normalize.person import NormalizedPerson, normalize_person
from aidlink.gateway.pseudonyms import Pseudonyms
from aidlink.gateway.refs import ReferenceMap

UPLOAD_BATCH = 2000
SCHOOL_AGE = range(3, 23)   # preschool to university, the ages education assistance covers


@dataclass(frozen=True)
class RowProblem:
    row: int           # 1-based data row number
    record_id: str
    field: str
    reason: str
    kept: bool = False  # flagged, not fatal: the row was still encoded and uploaded


@dataclass
class SubmitResult:
    dataset: str
    version: int
    rows: int
    uploaded: int
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def rows_flagged(self) -> int:
        return len({p.row for p in self.problems if p.kept})


@dataclass(frozen=True)
class LocalMatch:
    record_id: str
    score: float
    attributes: dict[str, str]
    disputed: bool = False     # the other department's record is under an open dispute (Art. 23)


@dataclass(frozen=True)
class CompareProgress:
    done: int
    total: int


@dataclass(frozen=True)
class CompareSummary:
    my_dataset: str
    other_dataset: str
    my_records: int
    matches: int
    agreement: str
    notice: str


@dataclass(frozen=True)
class CheckResult:
    found: bool
    score: float
    attributes: dict[str, str]
    agreement: str
    notice: str
    flags: list[str]
    disputed: bool = False


def schema_fingerprint(schema: LinkageSchema) -> str:
    canonical = json.dumps(schema.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def school_age(birth_date: str, today: date) -> str:
    """'yes'/'no' from a normalized YYYYMMDD birth date, '' when unknown."""
    if len(birth_date) != 8:
        return ""
    born = date(int(birth_date[:4]), int(birth_date[4:6]), int(birth_date[6:]))
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return "yes" if age in SCHOOL_AGE else "no"


class RowRefused(ValueError):
    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))


class GatewayNode:
    def __init__(self, department: str, schema: LinkageSchema, secret_key: bytes, secret_version: int,
                 matcher: matcher_pb2_grpc.MatcherStub, refs: ReferenceMap,
                 today: Callable[[], date] = date.today, catalog: NodeCatalog | None = None) -> None:
        self.department = department
        # The catalog the node checks attribute values against (typed attributes) before upload.
        self.catalog = catalog or NodeCatalog()
        self.encoder = Encoder(schema, secret_key)
        self.blocking = BlockingTokens(secret_key)
        self.pseudonyms = Pseudonyms(secret_key)
        self.encoding_info = common_pb2.EncodingInfo(
            bits=self.encoder.length_bytes * 8, secret_version=secret_version,
            schema_fingerprint=schema_fingerprint(schema))
        self.matcher = matcher
        self.refs = refs
        self.today = today

    # -- one record ----------------------------------------------------------------------------
    def encode_row(self, row: Mapping[str, str]) -> tuple[bytes, str, list[str]]:
        """(encoding, normalized birth date, flags) or RowRefused naming each field at fault."""
        encoding, person = self.encode_person(row)
        return encoding, person.features.get("birth_date", ""), [str(f) for f in person.flags]

    def encode_person(self, row: Mapping[str, str]) -> tuple[bytes, NormalizedPerson]:
        """(encoding, normalized person) or RowRefused naming each field at fault."""
        try:
            person = normalize_person(row, today=self.today())
        except RowRejected as exc:
            raise RowRefused([(i.field, f"{i.reason} (value {i.value!r})") for i in exc.issues]) from None
        try:
            encoding = self.encoder.encode(person.features)
        except RecordError as exc:
            raise RowRefused([("record", str(exc))]) from None
        return encoding, person

    def _attributes(self, row: Mapping[str, str], birth_date: str, names: Sequence[str]) -> dict[str, str]:
        attrs = {}
        for name in names:
            if name == "school_age" and not row.get(name):
                attrs[name] = school_age(birth_date, self.today())
            elif name == "household":   # the household id never travels raw: a keyed pseudonym does
                attrs[name] = self.pseudonyms.household(row.get("household_id", ""))
            else:
                attrs[name] = row.get(name, "")
        return attrs

    # -- submit a dataset ----------------------------------------------------------------------
    def submit(self, dataset: str, catalog_entry: str, catalog_version: str,
               rows: Iterable[Mapping[str, str]], *, id_column: str = "rec_id",
               attributes: Sequence[str] = (), row_numbers: Sequence[int] | None = None,
               progress: Callable[[int], None] | None = None) -> SubmitResult:
        tag = self.refs.new_tag()
        record_ids: list[str] = []
        problems: list[RowProblem] = []
        seen: set[str] = set()
        counter = {"rows": 0}
        # Each value is checked against its catalog type here, before it leaves the department;
        # the matcher checks again. Unknown entry/version: the matcher refuses the upload itself.
        entry = self.catalog.entry(catalog_entry, catalog_version)

        def chunks() -> Iterator[matcher_pb2.UploadChunk]:
            yield matcher_pb2.UploadChunk(header=matcher_pb2.UploadHeader(
                dataset=dataset, catalog_entry=catalog_entry, catalog_version=catalog_version,
                encoding=self.encoding_info, attributes=list(attributes)))
            batch: list[matcher_pb2.EncodedRecord] = []
            for i, row in enumerate(rows):
                number = row_numbers[i] if row_numbers else i + 1
                counter["rows"] += 1
                rid = row.get(id_column, "").strip()
                if not rid:
                    problems.append(RowProblem(number, "", id_column, "the record id is empty"))
                    continue
                if rid in seen:
                    problems.append(RowProblem(number, rid, id_column, f"duplicate record id {rid!r}"))
                    continue
                try:
                    encoding, person = self.encode_person(row)
                except RowRefused as exc:
                    problems.extend(RowProblem(number, rid, f, r) for f, r in exc.problems)
                    continue
                attrs = self._attributes(row, person.features.get("birth_date", ""), attributes)
                refused = [] if entry is None else [
                    RowProblem(number, rid, f"attributes.{name}",
                               f"{reason} (catalog {catalog_entry} version {catalog_version}); row not uploaded")
                    for name, value in attrs.items()
                    if (reason := entry.attribute_problem(name, value)) is not None]
                if refused:
                    problems.extend(refused)
                    continue
                seen.add(rid)
                problems.extend(RowProblem(number, rid, f.field, f"{f.reason} (value {f.value!r}); row kept",
                                           kept=True) for f in person.flags)
                batch.append(matcher_pb2.EncodedRecord(
                    ref=f"{tag}.{len(record_ids)}", encoding=encoding, attributes=attrs,
                    blocking_keys=self.blocking.tokens(person)))
                record_ids.append(rid)
                if len(batch) >= UPLOAD_BATCH:
                    yield matcher_pb2.UploadChunk(batch=matcher_pb2.RecordBatch(records=batch))
                    batch = []
                    if progress:
                        progress(counter["rows"])
            if batch:
                yield matcher_pb2.UploadChunk(batch=matcher_pb2.RecordBatch(records=batch))

        summary = self.matcher.UploadDataset(chunks())
        self.refs.save(tag, summary.dataset, summary.version, record_ids)
        for p in summary.rejected:   # refused by the matcher after encoding (rare)
            problems.append(RowProblem(0, self._safe_resolve(p.ref), p.field, p.reason))
        return SubmitResult(summary.dataset, summary.version, counter["rows"], summary.accepted, problems)

    def _safe_resolve(self, ref: str) -> str:
        try:
            return self.refs.resolve(ref)
        except LookupError:
            return ref

    # -- compare -------------------------------------------------------------------------------
    def compare_events(self, my_dataset: str, other_dataset: str, purpose: int, threshold: float = 0.0,
                       all_pairs: bool = False) -> Iterator[CompareProgress | LocalMatch | CompareSummary]:
        """The matcher's answer as it streams: progress, then this node's own matches, then the summary."""
        summary = None
        for event in self.matcher.CompareDatasets(matcher_pb2.CompareRequest(
                my_dataset=my_dataset, other_dataset=other_dataset, purpose=purpose,
                threshold=threshold, all_pairs=all_pairs)):
            kind = event.WhichOneof("event")
            if kind == "progress":
                yield CompareProgress(event.progress.done, event.progress.total)
            elif kind == "match":
                m = event.match
                yield LocalMatch(self.refs.resolve(m.my_ref), m.score, dict(m.attributes), m.disputed)
            elif kind == "summary":
                s = event.summary
                summary = CompareSummary(s.my_dataset, s.other_dataset, s.my_records, s.matches,
                                         s.agreement, s.notice.text)
                yield summary
        if summary is None:
            raise RuntimeError("the matcher ended the comparison without a summary")

    def compare(self, my_dataset: str, other_dataset: str, purpose: int, threshold: float = 0.0,
                all_pairs: bool = False) -> tuple[list[LocalMatch], CompareSummary]:
        events = list(self.compare_events(my_dataset, other_dataset, purpose, threshold, all_pairs))
        return [e for e in events if isinstance(e, LocalMatch)], events[-1]

    # -- one person ----------------------------------------------------------------------------
    def check_person(self, fields: Mapping[str, str], dataset: str, purpose: int,
                     threshold: float = 0.0) -> CheckResult:
        encoding, _, flags = self.encode_row(fields)
        answer = self.matcher.QueryStatus(matcher_pb2.StatusQuery(
            dataset=dataset, encoding=encoding, encoding_info=self.encoding_info, purpose=purpose,
            threshold=threshold))
        return CheckResult(answer.found, answer.score, dict(answer.attributes), answer.agreement,
                           answer.notice.text, flags, answer.disputed)
