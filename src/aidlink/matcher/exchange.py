"""The matcher's domain: datasets, agreements and comparisons, without gRPC.

A department uploads its encodings under a catalog entry; another department,
under an agreement and a declared purpose, learns which of ITS OWN records
match, with the attributes the agreement returns, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import date

import numpy as np

from aidlink.audit.officer_text import escape_for_officer, unsafe_characters
from aidlink.matcher.agreements import Agreement, AgreementSet, Refusal
from aidlink.matcher.catalog import Catalog, CatalogError
from aidlink.matcher.catalog_store import CatalogStore
from aidlink.matcher.compared_matches import ComparedMatches
from aidlink.matcher.comparison import DEFAULT_CHUNK_ROWS, DEFAULT_LSH
from aidlink.matcher.datasets import (
    MAX_BLOCKING_KEYS,
    AttributeRows,
    DatasetNotFound,
    DatasetStore,
    DatasetVersion,
    DatasetWriter,
    EncodingSpec,
)
from aidlink.matcher.distributed import JoinBackend
from aidlink.matcher.errors import Incompatible, InvalidInput, NotFound, NothingAdmitted, NotPermitted, TooLarge
from aidlink.matcher.join import DatasetJoin
from aidlink.matcher.policy import PolicyGate, VolumeLedger
from aidlink.matcher.request_fields import check_dataset_name, without_nul
from aidlink.matcher.similarity.lsh import BitSamplingLsh

MAX_REF_LENGTH = 64
MAX_ATTRIBUTE_LENGTH = 256
SUPPORTED_BITS = range(64, 65537, 64)
MIN_BLOCKING_KEY_BYTES, MAX_BLOCKING_KEY_BYTES = 8, 32


@dataclass(frozen=True)
class UploadProblem:
    index: int
    ref: str
    field: str
    reason: str


def no_disputes(dataset: str, version: int) -> set[str]:
    return set()


@dataclass
class Comparison:
    mine: DatasetVersion
    other: DatasetVersion
    agreement: Agreement
    threshold: float
    matches: ComparedMatches  # columns; a MatchedRecord is built per match only when read
    comparisons: int
    other_admitted: int
    blocked: bool = False  # True: only pairs sharing a blocking key were scored

    def audit_counts(self) -> dict[str, int]:
        """What the audit entry of this comparison counts (online and offline alike)."""
        return {
            "my_records": self.mine.records,
            "other_records": self.other_admitted,
            "comparisons": self.comparisons,
            "matches": len(self.matches),
            "blocked": int(self.blocked),
        }


@dataclass
class StatusResult:
    found: bool
    score: float
    attributes: dict[str, str]
    dataset: DatasetVersion
    agreement: Agreement
    disputed: bool = False
    provider_ref: str = ""  # the matched provider record's ref: the matcher's own use (disputes), never sent


@dataclass
class Exchange:
    store: DatasetStore
    catalog: Catalog | CatalogStore  # the published versions (a fixed Catalog in unit tests)
    agreements: AgreementSet
    default_threshold: float | None = None  # None: each schema's calibrated threshold (matcher.schema_policies)
    today: Callable[[], date] = date.today
    # Blocking: used when both datasets carry keyed blocking tokens; False forces the
    # exhaustive join. `lsh` adds Hamming-LSH bands over the encodings (None: tokens only).
    blocking: bool = True
    lsh: BitSamplingLsh | None = DEFAULT_LSH
    # Refs of a dataset version's records under an open dispute (the dispute desk sets it).
    disputed_refs: Callable[[str, int], set[str]] = no_disputes
    # The engine of exhaustive joins (matcher.distributed: local or Dask); None: the in-process
    # kernel called directly. Blocked joins always run in process.
    join: JoinBackend | None = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    # The policy gate every use case passes (matcher.policy); None: one over the store's database.
    # The gate in use is `policy_gate`.
    policy: InitVar[PolicyGate | None] = None
    # The one join path (matcher.join), shared with monitoring; None: one made from `join`, `lsh`
    # and `chunk_rows`. The path in use is `join_path`.
    joiner: InitVar[DatasetJoin | None] = None
    join_path: DatasetJoin = field(init=False, repr=False)
    policy_gate: PolicyGate = field(init=False, repr=False)
    # Provider rows an agreement admits, per (dataset version, agreement): status queries
    # repeat the same filter thousands of times, so it is computed once per version.
    _admitted_rows: dict[tuple, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self, policy: PolicyGate | None, joiner: DatasetJoin | None) -> None:
        self.policy_gate = (
            policy
            if policy is not None
            else PolicyGate(
                self.agreements,
                VolumeLedger(self.store.database),
                default_threshold=self.default_threshold,
                today=self.today,
            )
        )
        self.join_path = (
            joiner if joiner is not None else DatasetJoin(self.join, lsh=self.lsh, chunk_rows=self.chunk_rows)
        )

    # -- upload -------------------------------------------------------------------------------
    def begin_upload(
        self,
        department: str,
        name: str,
        catalog_entry: str,
        catalog_version: str,
        encoding: EncodingSpec,
        attributes: Iterable[str],
    ) -> DatasetWriter:
        check_dataset_name(name)
        try:
            entry = self.catalog.entry(catalog_entry, catalog_version)
        except CatalogError as exc:
            raise InvalidInput(f"header.catalog_entry: {exc}") from None
        if entry.provider != department:
            raise NotPermitted(f"catalog entry {entry.id} is provided by {entry.provider}, not by {department}")
        if entry.sharing == "not-shared":
            raise NotPermitted(f"catalog entry {entry.id} is 'not shared' and cannot be uploaded")
        attributes = tuple(attributes)
        extra = [a for a in attributes if a not in entry.attributes]
        if extra:
            raise InvalidInput(
                f"header.attributes: {', '.join(extra)} not listed in catalog entry "
                f"{entry.id} (allowed: {', '.join(entry.attributes)})"
            )
        if encoding.bits not in SUPPORTED_BITS:
            raise InvalidInput(f"header.encoding.bits: {encoding.bits} is not a positive multiple of 64")
        if encoding.secret_version < 1:
            raise InvalidInput(
                "header.encoding.secret_version must be set (>= 1)", field="header.encoding.secret_version"
            )
        if not encoding.schema_fingerprint:
            raise InvalidInput(
                "header.encoding.schema_fingerprint must be set", field="header.encoding.schema_fingerprint"
            )
        return self.store.writer(department, name, catalog_entry, catalog_version, encoding, attributes)

    def add_record(
        self,
        writer: DatasetWriter,
        index: int,
        ref: str,
        encoding: bytes,
        attributes: Mapping[str, str],
        blocking_keys: Sequence[bytes] = (),
    ) -> UploadProblem | None:
        """Adds one record, or says why it was refused (the upload goes on)."""
        if not ref or len(ref) > MAX_REF_LENGTH:
            return UploadProblem(
                index, escape_for_officer(ref[:MAX_REF_LENGTH]), "ref", f"must be 1-{MAX_REF_LENGTH} characters"
            )
        if not ref.isprintable():
            return UploadProblem(
                index,
                escape_for_officer(ref),
                "ref",
                f"holds characters that cannot be shown ({', '.join(unsafe_characters(ref)) or 'format characters'}); "
                "a ref is printable text",
            )
        if len(encoding) != writer.row_bytes:
            return UploadProblem(
                index,
                ref,
                "encoding",
                f"has {len(encoding)} bytes, expected {writer.row_bytes} ({writer.encoding.bits} bits)",
            )
        probe = self.policy_gate.record_problem(writer.encoding, index, ref, encoding)
        if probe:
            return UploadProblem(index, ref, "encoding", probe)
        entry = self.catalog.entry(writer.catalog_entry, writer.catalog_version)
        for key, value in attributes.items():
            if key not in writer.attributes:
                return UploadProblem(index, ref, f"attributes.{key}", "not declared in the upload header")
            if len(value) > MAX_ATTRIBUTE_LENGTH:
                return UploadProblem(index, ref, f"attributes.{key}", f"longer than {MAX_ATTRIBUTE_LENGTH}")
            problem = entry.attribute_problem(key, value, echo=False)  # typed in the catalog: free text never travels
            if problem:
                return UploadProblem(
                    index,
                    ref,
                    f"attributes.{key}",
                    f"{problem} (catalog {writer.catalog_entry} version {writer.catalog_version})",
                )
        if len(blocking_keys) > MAX_BLOCKING_KEYS:
            return UploadProblem(
                index, ref, "blocking_keys", f"has {len(blocking_keys)} keys; at most {MAX_BLOCKING_KEYS} are allowed"
            )
        for k, blocking_key in enumerate(blocking_keys):
            if not MIN_BLOCKING_KEY_BYTES <= len(blocking_key) <= MAX_BLOCKING_KEY_BYTES:
                return UploadProblem(
                    index,
                    ref,
                    f"blocking_keys[{k}]",
                    f"has {len(blocking_key)} bytes; a keyed token has "
                    f"{MIN_BLOCKING_KEY_BYTES}-{MAX_BLOCKING_KEY_BYTES}",
                )
        writer.add(ref, encoding, attributes, blocking_keys)
        return None

    # -- resolving names and agreements --------------------------------------------------------
    def dataset(self, qualified: str, field_name: str) -> DatasetVersion:
        department, sep, name = without_nul(qualified, field_name).partition("/")
        if not sep or not department or not name:
            raise InvalidInput(f"{field_name}: {qualified!r} must be '<department>/<dataset>'")
        try:
            return self.store.latest(department, name)
        except DatasetNotFound as exc:
            raise NotFound(f"{field_name}: {exc}") from None

    def own_dataset(self, department: str, name: str, field_name: str) -> DatasetVersion:
        without_nul(name, field_name)
        if "/" in name:
            owner = name.partition("/")[0]
            if owner != department:
                raise NotPermitted(
                    f"{field_name}: {name!r} belongs to {owner}; a department compares its own datasets only"
                )
            name = name.partition("/")[2]
        try:
            return self.store.latest(department, name)
        except DatasetNotFound as exc:
            raise NotFound(f"{field_name}: {exc}") from None

    def agreement_for(self, user: str, other: DatasetVersion, purpose: str) -> Agreement:
        self.policy_gate.check_purpose(purpose, "matching")  # also for the dispute desk's re-derived match
        found = self.agreements.find(
            user=user, provider=other.department, catalog_entry=other.catalog_entry, purpose=purpose, today=self.today()
        )
        if isinstance(found, Refusal):
            raise NotPermitted(found.message)
        return self.policy_gate.bind(found, user, other)

    def _threshold(
        self, requested: float, agreement: Agreement | None = None, spec: EncodingSpec | None = None
    ) -> float:
        return self.policy_gate.threshold(requested, agreement, spec)

    @staticmethod
    def _check_compatible(a: EncodingSpec, b: EncodingSpec, what: str) -> None:
        if a.secret_version != b.secret_version:
            raise Incompatible(
                f"{what}: encodings were made under linkage-secret version "
                f"{a.secret_version} and {b.secret_version}; they are never compared. "
                f"Re-encode and re-upload under the current version."
            )
        if a.bits == b.bits and a.schema == b.schema and a.scope != b.scope:
            raise Incompatible(
                f"{what}: encodings were made under different key scopes "
                f"({a.scope or 'none'} and {b.scope or 'none'}); they are never compared. "
                f"Both sides of an agreement must encode under the same scope (aidlink gateway serve --key-scope)."
            )
        if a.bits != b.bits or a.schema_fingerprint != b.schema_fingerprint:
            raise Incompatible(
                f"{what}: encodings differ ({a.describe()} vs {b.describe()}); "
                f"both sides must use the same linkage schema"
            )

    # -- comparison ---------------------------------------------------------------------------
    def compare(
        self,
        department: str,
        my_name: str,
        other_name: str,
        purpose: str,
        threshold: float,
        all_pairs: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> Comparison:
        self.policy_gate.check_purpose(purpose, "compare")
        mine = self.own_dataset(department, my_name, "my_dataset")
        other = self.dataset(other_name, "other_dataset")
        self.catalog.check_matchable(other.catalog_entry, other.catalog_version)  # Art. 6: not-shared
        agreement = self.agreement_for(department, other, purpose)
        self._check_compatible(
            mine.encoding,
            other.encoding,
            f"{mine.qualified_name} v{mine.version} vs {other.qualified_name} v{other.version}",
        )
        threshold = self._threshold(threshold, agreement, other.encoding)
        my_data, other_data = self.store.load(mine), self.store.load(other)
        admitted_rows = self._admitted(other, other_data.attributes, agreement)
        self._check_something_admitted(other, agreement, len(admitted_rows))
        outcome = self.join_path.match(
            my_data.encodings,
            other_data,
            admitted_rows,
            threshold,
            all_pairs=all_pairs,
            mine_blocking=my_data.blocking,
            blocking=self.blocking,
            progress=progress,
        )
        pairs = outcome.pairs
        matches = ComparedMatches.in_answer_order(
            pairs.a_index,
            admitted_rows[pairs.b_index],
            pairs.scores,
            my_refs=my_data.refs,
            other_refs=other_data.refs,
            other_attributes=other_data.attributes,
            returns=tuple(agreement.returns),
            disputed_refs=frozenset(self.disputed_refs(other.qualified_name, other.version)),
        )
        self.policy_gate.reveal(department, agreement, other, matches.revealed_refs(), len(admitted_rows))
        return Comparison(
            mine,
            other,
            agreement,
            threshold,
            matches,
            comparisons=outcome.comparisons,
            other_admitted=len(admitted_rows),
            blocked=outcome.blocked,
        )

    def status(
        self, department: str, dataset_name: str, encoding: bytes, spec: EncodingSpec, purpose: str, threshold: float
    ) -> StatusResult:
        self.policy_gate.check_purpose(purpose, "status queries")
        other = self.dataset(dataset_name, "dataset")
        self.catalog.check_matchable(other.catalog_entry, other.catalog_version)  # Art. 6: not-shared
        agreement = self.agreement_for(department, other, purpose)
        if len(encoding) * 8 != spec.bits:
            raise InvalidInput(f"encoding: has {len(encoding)} bytes but encoding_info.bits says {spec.bits}")
        if len(encoding) > 8192:
            raise TooLarge(f"encoding: {len(encoding)} bytes is larger than any supported encoding")
        self.policy_gate.check_query(spec, encoding)
        self._check_compatible(spec, other.encoding, f"query vs {other.qualified_name} v{other.version}")
        threshold = self._threshold(threshold, agreement, other.encoding)
        data = self.store.load(other)
        admitted = self._admitted(other, data.attributes, agreement)
        self._check_something_admitted(other, agreement, len(admitted))
        query = np.frombuffer(encoding, dtype=np.uint8).reshape(1, -1)
        links = self.join_path.match(query, data, admitted, threshold, all_pairs=True).links
        if not links:
            return StatusResult(False, 0.0, {}, other, agreement)
        best = max(links, key=lambda l: l.score)
        row = int(admitted[best.other])
        attrs = data.attributes[row]
        disputed = data.refs[row] in self.disputed_refs(other.qualified_name, other.version)
        self.policy_gate.reveal(department, agreement, other, {data.refs[row]}, len(admitted))
        return StatusResult(
            True,
            best.score,
            {k: attrs[k] for k in agreement.returns if k in attrs},
            other,
            agreement,
            disputed,
            provider_ref=data.refs[row],
        )

    @staticmethod
    def _check_something_admitted(other: DatasetVersion, agreement: Agreement, admitted: int) -> None:
        """No silent zero: a filter on an attribute the provider never uploaded, or one that admits
        none of its records, is said to the caller, naming the attribute and the provider."""
        where = f"{other.qualified_name} v{other.version}"
        missing = [a for a in agreement.filter_attributes if a not in other.attributes]
        if missing:
            uploaded = ", ".join(other.attributes) or "none"
            raise NothingAdmitted(
                f"agreement {agreement.id} selects {where} records by {', '.join(missing)}, which "
                f"{other.department} did not upload with this dataset (attributes uploaded: {uploaded}); "
                f"{other.department} must upload it again with --attribute {' --attribute '.join(missing)}"
            )
        if admitted == 0:
            raise NothingAdmitted(
                f"agreement {agreement.id} admits none of the {other.records} records of {where} "
                f"({agreement.describe_filter()}): there is nothing this call may be matched against"
            )

    def _admitted(
        self, meta: DatasetVersion, attributes: Sequence[Mapping[str, str]], agreement: Agreement
    ) -> np.ndarray:
        key = (meta.id, agreement.filter_key)
        rows = self._admitted_rows.get(key)
        if rows is None:
            if not any(a.record_filter for a in (agreement, *agreement.bound_with)):
                rows = np.arange(len(attributes), dtype=np.int64)  # every record; none need be read
            elif isinstance(attributes, AttributeRows):
                rows = attributes.rows_where(agreement.admits)
            else:
                rows = np.asarray([i for i, attrs in enumerate(attributes) if agreement.admits(attrs)], dtype=np.int64)
            if len(self._admitted_rows) >= 64:
                self._admitted_rows.clear()
            self._admitted_rows[key] = rows
        return rows

    def visible_datasets(self, department: str) -> list[tuple[DatasetVersion, list[str]]]:
        out = []
        for meta in self.store.list_latest():
            ids = [
                a.id
                for a in self.agreements.for_user(department)
                if meta.department in a.providers and meta.catalog_entry in a.catalog_entries
            ]
            if ids or meta.department == department:
                out.append((meta, ids))
        return out
