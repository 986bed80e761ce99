"""The node's record pipeline, with no wire in it: a mapped extract row -> normalized person ->
Bloom-filter encoding -> keyed blocking tokens -> catalog attribute values.

Every path that turns a department's rows into what leaves the node (the online upload, the
offline bundle, a dispute correction, a one-person status check) goes through this one object,
so the paths cannot drift apart. It knows nothing of gRPC or protobuf: the matcher client turns
its records into messages.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aidlink.gateway.blocking import BlockingTokens, ShuffledBlockingTokens
from aidlink.gateway.derived_attributes import (
    SCHOOL_AGE,
    DerivationInput,
    derived_value,
    embedded_derivations,
    school_age,
)
from aidlink.gateway.encoding import Encoder, LinkageSchema, RecordError
from aidlink.gateway.encoding.keyderivation import scoped_secret
from aidlink.gateway.key_scope import scoped_schema_fingerprint
from aidlink.gateway.normalize.issues import RowRejected
from aidlink.gateway.normalize.person import NormalizedPerson, normalize_person
from aidlink.gateway.pseudonyms import Pseudonyms
from aidlink.gateway.refs import reference
from aidlink.matcher.catalog_attributes import AttributeType

REFERENCE_INFO = b"aidlink record references"  # HKDF info of the key behind record references
BATCH_ROWS = 4096  # rows normalized, then encoded together on the encoder's fast path
__all__ = ["SCHOOL_AGE", "school_age"]  # re-exported: defined with the derivation rules
Derivations = Mapping[str, AttributeType]  # attribute name -> its catalog declaration (derived ones)


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based data row number
    record_id: str
    field: str
    reason: str
    kept: bool = False  # flagged, not fatal: the row was still encoded and uploaded


class RowRefused(ValueError):
    """A row that cannot be encoded; `problems` lists (field, reason) for each fault."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))


@dataclass(frozen=True)
class EncodingParameters:
    """What a matcher needs to know to compare encodings: length, secret version, schema."""

    bits: int
    secret_version: int
    schema_fingerprint: str


@dataclass(frozen=True)
class PreparedRecord:
    """One row ready to leave the node: nothing in it is a raw identifier."""

    row: int  # 1-based data row number
    record_id: str  # the department's own id: stays on the node
    ref: str  # the opaque reference the matcher sees instead
    encoding: bytes
    blocking_tokens: tuple[bytes, ...]
    attributes: dict[str, str]
    flags: tuple[RowProblem, ...] = ()  # non-fatal problems (kept=True): the row is still sent


@dataclass(frozen=True)
class RefusedRow:
    """One row that is not sent, with every reason (kept=False)."""

    row: int
    record_id: str
    problems: tuple[RowProblem, ...]


def schema_fingerprint(schema: LinkageSchema) -> str:
    canonical = json.dumps(schema.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


AttributeCheck = Callable[[str, str], str | None]  # (name, value) -> why it may not be sent, or None


class RecordPipeline:
    """Normalizes, encodes, tokenizes and derives attributes under one linkage secret and schema."""

    def __init__(
        self,
        schema: LinkageSchema,
        secret_key: bytes,
        secret_version: int,
        today: Callable[[], date] = date.today,
        *,
        scope: str = "",
    ) -> None:
        self.schema = schema
        self.scope = scope
        if scope:  # every key below comes from the secret and the scope (gateway.key_scope)
            secret_key = scoped_secret(bytes(secret_key), scope.encode())
        self.encoder = Encoder(schema, secret_key)
        # A segmented (v2) schema gets v2 tokens: high-entropy only, constant count, shuffled.
        self.blocking: BlockingTokens | ShuffledBlockingTokens = (
            ShuffledBlockingTokens(secret_key) if schema.hardening.layout is not None else BlockingTokens(secret_key)
        )
        self.pseudonyms = Pseudonyms(secret_key)
        self.reference_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=REFERENCE_INFO).derive(
            bytes(secret_key)
        )
        self.parameters = EncodingParameters(
            self.encoder.length_bytes * 8, secret_version, scoped_schema_fingerprint(schema_fingerprint(schema), scope)
        )
        self.today = today

    # -- one row -------------------------------------------------------------------------------
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

    def encode_persons(self, rows: Sequence[Mapping[str, str]]) -> list[tuple[bytes, NormalizedPerson] | RowRefused]:
        """:meth:`encode_person` of each row, in order, on the encoder's fast path (same bytes,
        same refusals); a refusal is returned in the row's place, not raised."""
        out: list[tuple[bytes, NormalizedPerson] | RowRefused] = []
        persons: list[NormalizedPerson] = []
        places: list[int] = []
        today = self.today()
        for row in rows:
            try:
                persons.append(normalize_person(row, today=today))
            except RowRejected as exc:
                out.append(RowRefused([(i.field, f"{i.reason} (value {i.value!r})") for i in exc.issues]))
                continue
            places.append(len(out))
            out.append(RowRefused([]))  # placeholder, replaced below
        for place, person, clk in zip(places, persons, self.encoder.encode_each([p.features for p in persons])):
            out[place] = RowRefused([("record", str(clk))]) if isinstance(clk, RecordError) else (clk, person)
        return out

    def encode_rows(self, rows: Sequence[Mapping[str, str]]) -> list[bytes | RowRefused]:
        """Each row's encoding or its refusal, in order (bulk encoding without tokens or attributes)."""
        return [r if isinstance(r, RowRefused) else r[0] for r in self.encode_persons(rows)]

    def attributes(
        self,
        row: Mapping[str, str],
        person: NormalizedPerson,
        names: Sequence[str],
        derivations: Derivations | None = None,
    ) -> dict[str, str]:
        """The catalog attribute values sent with a record: a derived attribute (declared so in the
        catalog entry, `derivations`; default: the embedded catalog's) by its rule, any other from
        the row's column of that name."""
        declared = embedded_derivations() if derivations is None else derivations
        inputs = DerivationInput(row, person, self.today(), self.pseudonyms)
        attrs = {}
        for name in names:
            how = declared.get(name)
            attrs[name] = derived_value(how, inputs) if how is not None and how.derived_rule else row.get(name, "")
        return attrs

    def prepare(
        self,
        row: Mapping[str, str],
        *,
        attributes: Sequence[str] = (),
        number: int = 1,
        record_id: str = "",
        ref: str = "",
        check_attribute: AttributeCheck | None = None,
        derivations: Derivations | None = None,
    ) -> PreparedRecord:
        """One row's encoding, blocking tokens and attributes, or RowRefused naming each field at fault.

        ``check_attribute(name, value)``: why a value may not be sent (its catalog type), or None."""
        encoding, person = self.encode_person(row)
        return self._complete(row, encoding, person, attributes, number, record_id, ref, check_attribute, derivations)

    def _complete(
        self,
        row: Mapping[str, str],
        encoding: bytes,
        person: NormalizedPerson,
        attributes: Sequence[str],
        number: int,
        record_id: str,
        ref: str,
        check_attribute: AttributeCheck | None,
        derivations: Derivations | None,
    ) -> PreparedRecord:
        """:meth:`prepare` after the encoding: attributes (checked), flags and blocking tokens."""
        attrs = self.attributes(row, person, attributes, derivations)
        if check_attribute is not None:
            refused = [
                (f"attributes.{name}", reason)
                for name, value in attrs.items()
                if (reason := check_attribute(name, value)) is not None
            ]
            if refused:
                raise RowRefused(refused)
        flags = tuple(
            RowProblem(number, record_id, f.field, f"{f.reason} (value {f.value!r}); row kept", kept=True)
            for f in person.flags
        )
        return PreparedRecord(number, record_id, ref, encoding, tuple(self.blocking.tokens(person)), attrs, flags)

    # -- a dataset -----------------------------------------------------------------------------
    def records(
        self,
        rows: Iterable[Mapping[str, str]],
        *,
        tag: str,
        id_column: str = "rec_id",
        attributes: Sequence[str] = (),
        row_numbers: Sequence[int] | None = None,
        check_attribute: AttributeCheck | None = None,
        derivations: Derivations | None = None,
    ) -> Iterator[PreparedRecord | RefusedRow]:
        """Per row, in order: its PreparedRecord (referenced "<tag>.<keyed token of i>", i counting
        prepared records only; see gateway.refs) or a RefusedRow. A refused row never stops the rows after it."""
        seen: set[str] = set()
        prepared = 0
        numbered = enumerate(rows)
        # Rows are normalized and encoded BATCH_ROWS at a time (the encoder's fast path), then
        # completed one by one in order, exactly as `prepare` would (same refs, refusals, flags).
        while chunk := list(itertools.islice(numbered, BATCH_ROWS)):
            encoded = self.encode_persons([row for _, row in chunk])
            for (i, row), result in zip(chunk, encoded):
                number = row_numbers[i] if row_numbers else i + 1
                rid = row.get(id_column, "").strip()
                if not rid:
                    yield RefusedRow(number, "", (RowProblem(number, "", id_column, "the record id is empty"),))
                    continue
                if rid in seen:
                    problem = RowProblem(number, rid, id_column, f"duplicate record id {rid!r}")
                    yield RefusedRow(number, rid, (problem,))
                    continue
                try:
                    if isinstance(result, RowRefused):
                        raise result
                    record = self._complete(
                        row,
                        *result,
                        attributes,
                        number,
                        rid,
                        reference(tag, prepared, self.reference_key),
                        check_attribute,
                        derivations,
                    )
                except RowRefused as exc:
                    yield RefusedRow(number, rid, tuple(RowProblem(number, rid, f, r) for f, r in exc.problems))
                    continue
                seen.add(rid)
                prepared += 1
                yield record

    def dataset(
        self,
        rows: Iterable[Mapping[str, str]],
        *,
        tag: str,
        id_column: str = "rec_id",
        attributes: Sequence[str] = (),
        row_numbers: Sequence[int] | None = None,
        check_attribute: AttributeCheck | None = None,
        derivations: Derivations | None = None,
    ) -> PreparedDataset:
        return PreparedDataset(
            self.records(
                rows,
                tag=tag,
                id_column=id_column,
                attributes=attributes,
                row_numbers=row_numbers,
                check_attribute=check_attribute,
                derivations=derivations,
            )
        )


class PreparedDataset:
    """A dataset going through the pipeline, read once and lazily: iterating yields the prepared
    records; meanwhile `rows`, `record_ids` and `refs` (record_ids[i] is sent as refs[i]) and
    `problems` (refusals and flags, in row order) fill in."""

    def __init__(self, items: Iterator[PreparedRecord | RefusedRow]) -> None:
        self._items = items
        self.rows = 0
        self.record_ids: list[str] = []
        self.refs: list[str] = []
        self.problems: list[RowProblem] = []

    def __iter__(self) -> Iterator[PreparedRecord]:
        for item in self._items:
            self.rows += 1
            if isinstance(item, RefusedRow):
                self.problems.extend(item.problems)
                continue
            self.problems.extend(item.flags)
            self.record_ids.append(item.record_id)
            self.refs.append(item.ref)
            yield item
