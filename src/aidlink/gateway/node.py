"""A department's gateway node: the only place raw records become encodings.

It runs rows through the record pipeline (gateway.pipeline: normalize, encode,
tokens, attributes), uploads them under opaque references with the matcher client
(gateway.matcher_client), and resolves the matcher's answers back to the department's own record ids.
What it sends the matcher: dataset names, catalog entry, encoding parameters,
references, encodings and the catalog-allowed attribute values. Nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from aidlink.gateway.catalog_lookup import NodeCatalog
from aidlink.gateway.match_batches import LocalMatchBatch, RemoteMatchBatch, attribute_rows, disputed_flags
from aidlink.gateway.matcher_client import CompareProgress, CompareSummary, MatcherClient, RemoteMatch, encoding_info
from aidlink.gateway.pipeline import (
    SCHOOL_AGE,
    PreparedDataset,
    RecordPipeline,
    RowProblem,
    RowRefused,
    schema_fingerprint,
    school_age,
)
from aidlink.gateway.refs import ReferenceMap
from aidlink.observability.tracing import span
from aidlink.v1 import common_pb2

__all__ = [
    "GatewayNode",
    "SubmitResult",
    "LocalMatch",
    "CheckResult",
    "CompareProgress",
    "CompareSummary",
    # defined in gateway.pipeline, importable from here too
    "RowProblem",
    "RowRefused",
    "SCHOOL_AGE",
    "school_age",
    "schema_fingerprint",
]


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
    disputed: bool = False  # the other department's record is under an open dispute (Art. 23)


@dataclass(frozen=True)
class CheckResult:
    found: bool
    score: float
    attributes: dict[str, str]
    agreement: str
    notice: str
    flags: list[str]
    disputed: bool = False


class GatewayNode:
    """The department's use cases: rows go through the record pipeline, out through the matcher
    client; answers come back by reference and are resolved to the department's record ids."""

    def __init__(
        self,
        department: str,
        pipeline: RecordPipeline,
        matcher: MatcherClient | None,
        refs: ReferenceMap,
        catalog: NodeCatalog | None = None,
    ) -> None:
        self.department = department
        self.pipeline = pipeline
        # The catalog the node holds attribute values to (typed attributes) before they leave it.
        self.catalog = catalog or NodeCatalog()
        self._matcher = matcher  # None: an offline node (bundles only)
        self.refs = refs

    @property
    def matcher(self) -> MatcherClient:
        if self._matcher is None:
            raise RuntimeError(f"gateway node {self.department} has no matcher connection (offline: use bundles)")
        return self._matcher

    @property
    def encoding_info(self) -> common_pb2.EncodingInfo:
        """The common_pb2.EncodingInfo this node declares with every encoding it sends."""
        return encoding_info(self.pipeline.parameters)

    # -- submit a dataset ----------------------------------------------------------------------
    def submit(
        self,
        dataset: str,
        catalog_entry: str,
        catalog_version: str,
        rows: Iterable[Mapping[str, str]],
        *,
        id_column: str = "rec_id",
        attributes: Sequence[str] = (),
        row_numbers: Sequence[int] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SubmitResult:
        attributes = self.attributes_for(catalog_entry, catalog_version, attributes)
        tag = self.refs.new_tag()
        prepared = self.prepare(
            rows,
            catalog_entry,
            catalog_version,
            tag=tag,
            id_column=id_column,
            attributes=attributes,
            row_numbers=row_numbers,
        )
        # Records are encoded as the upload streams them: one span covers both.
        with span("aidlink.encode", **{"aidlink.dataset": dataset, "aidlink.catalog_entry": catalog_entry}) as s:
            outcome = self.matcher.upload(
                dataset,
                catalog_entry,
                catalog_version,
                attributes,
                prepared,
                after_batch=(lambda: progress(prepared.rows)) if progress else None,
            )
            s.set_attribute("aidlink.records", prepared.rows)
            s.set_attribute("aidlink.records_accepted", outcome.accepted)
        self.refs.save(tag, outcome.dataset, outcome.version, prepared.record_ids, prepared.refs)
        problems = list(prepared.problems)
        for p in outcome.rejected:  # refused by the matcher after encoding (rare)
            problems.append(RowProblem(0, self._safe_resolve(p.ref), p.field, p.reason))
        return SubmitResult(outcome.dataset, outcome.version, prepared.rows, outcome.accepted, problems)

    def attributes_for(self, catalog_entry: str, catalog_version: str, attributes: Sequence[str]) -> tuple[str, ...]:
        """The attributes an upload sends: those asked for, else every one its catalog entry lists
        (an upload knows its entry, so a derived attribute an agreement filters on is not forgotten)."""
        if attributes:
            return tuple(attributes)
        entry = self.catalog.entry(catalog_entry, catalog_version)
        return entry.attributes if entry is not None else ()

    def prepare(
        self,
        rows: Iterable[Mapping[str, str]],
        catalog_entry: str,
        catalog_version: str,
        *,
        tag: str,
        id_column: str = "rec_id",
        attributes: Sequence[str] = (),
        row_numbers: Sequence[int] | None = None,
    ) -> PreparedDataset:
        """The record pipeline with each attribute value held to its type in the catalog entry it is
        sent under (the matcher checks again). Online submit and bundle export both prepare here."""
        entry = self.catalog.entry(catalog_entry, catalog_version)
        attributes = self.attributes_for(catalog_entry, catalog_version, attributes)
        check = None
        derivations = None
        if entry is not None:  # unknown entry or version: the matcher refuses the whole upload itself

            def check(name: str, value: str) -> str | None:
                reason = entry.attribute_problem(name, value)
                return (
                    None
                    if reason is None
                    else (f"{reason} (catalog {catalog_entry} version {catalog_version}); row not uploaded")
                )

            derivations = {t.name: t for t in entry.attribute_types if t.derived_rule}
            if not derivations:
                # A version published before catalogs declared derivations: the embedded catalog's
                # (by attribute name), as nodes derived them before, so school age is not lost.
                derivations = None

        return self.pipeline.dataset(
            rows,
            tag=tag,
            id_column=id_column,
            attributes=attributes,
            row_numbers=row_numbers,
            check_attribute=check,
            derivations=derivations,
        )

    def _safe_resolve(self, ref: str) -> str:
        try:
            return self.refs.resolve(ref)
        except LookupError:
            return ref

    # -- compare -------------------------------------------------------------------------------
    def compare_events(
        self,
        my_dataset: str,
        other_dataset: str,
        purpose: common_pb2.Purpose,
        threshold: float = 0.0,
        all_pairs: bool = False,
    ) -> Iterator[CompareProgress | LocalMatch | LocalMatchBatch | CompareSummary]:
        """The matcher's answer as it streams: progress, then this node's own matches (a batch
        as the matcher sent it, resolved to record ids), then the summary."""
        for event in self.matcher.compare(my_dataset, other_dataset, purpose, threshold, all_pairs):
            if isinstance(event, RemoteMatch):
                yield LocalMatch(self.refs.resolve(event.my_ref), event.score, event.attributes, event.disputed)
            elif isinstance(event, RemoteMatchBatch):
                yield from event.resolved(self.refs.resolve).pieces()
            else:
                yield event

    def compare(
        self,
        my_dataset: str,
        other_dataset: str,
        purpose: common_pb2.Purpose,
        threshold: float = 0.0,
        all_pairs: bool = False,
    ) -> tuple[list[LocalMatch], CompareSummary]:
        matches: list[LocalMatch] = []
        summary = None
        for event in self.compare_events(my_dataset, other_dataset, purpose, threshold, all_pairs):
            if isinstance(event, LocalMatch):
                matches.append(event)
            elif isinstance(event, LocalMatchBatch):
                m = event.message
                matches += map(LocalMatch, m.record_ids, m.scores, attribute_rows(m), disputed_flags(m))
            elif isinstance(event, CompareSummary):
                summary = event
        assert summary is not None  # the matcher client ends every stream with one
        return matches, summary

    # -- one person ----------------------------------------------------------------------------
    def check_person(
        self, fields: Mapping[str, str], dataset: str, purpose: common_pb2.Purpose, threshold: float = 0.0
    ) -> CheckResult:
        encoding, person = self.pipeline.encode_person(fields)
        answer = self.matcher.query_status(dataset, encoding, purpose, threshold)
        return CheckResult(
            answer.found,
            answer.score,
            answer.attributes,
            answer.agreement,
            answer.notice,
            [str(f) for f in person.flags],
            answer.disputed,
        )
