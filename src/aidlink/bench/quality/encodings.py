"""Turn a task's raw rows into encodings: aidlink (normalize, then encode) or raw (encode as written)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from aidlink.gateway.encoding import Encoder, LinkageSchema, RecordError
from aidlink.gateway.normalize.issues import RowRejected
from aidlink.gateway.normalize.person import normalize_person

BASELINE_SCHEMA = "baseline-raw-v3.json"


@dataclass
class Normalized:
    """Encoder inputs per row (None where normalization rejected the row) and why rows were rejected."""

    features: list[dict[str, str] | None]
    rejected: Counter[str]
    flagged: Counter[str]


def normalize_rows(rows: Sequence[Mapping[str, str]], today=None) -> Normalized:
    features: list[dict[str, str] | None] = []
    rejected: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    for row in rows:
        try:
            person = normalize_person(row, today=today)
        except RowRejected as exc:
            features.append(None)
            rejected.update(f"{issue.field}: {issue.reason.split(':')[0]}" for issue in exc.issues)
            continue
        features.append(person.features)
        flagged.update(f"{flag.field}: {flag.reason.split(':')[0].split(';')[0]}" for flag in person.flags)
    return Normalized(features, rejected, flagged)


def encode_records(records: Sequence[Mapping[str, str] | None], schema: LinkageSchema, secret: bytes) -> np.ndarray:
    """(n, bytes) uint8 encodings; a rejected record (None) or one the schema refuses is all zeros,
    so it matches nothing (it still counts in recall)."""
    encoder = Encoder(schema, secret)
    out = np.zeros((len(records), encoder.length_bytes), dtype=np.uint8)
    for i, record in enumerate(records):
        if record is None:
            continue
        try:
            out[i] = np.frombuffer(encoder.encode(record), dtype=np.uint8)
        except RecordError:
            continue
    return out


def raw_records(rows: Sequence[Mapping[str, str]], schema: LinkageSchema) -> list[dict[str, str]]:
    """The rows' values exactly as written, for each hashed feature of ``schema`` ("" when absent)."""
    keys = [f.identifier for f in schema.features if not f.ignored]
    return [{k: (row.get(k) or "") for k in keys} for row in rows]


def baseline_schema() -> LinkageSchema:
    """The plain clkhash-style baseline: bigrams of raw field strings, no normalization, no pinyin."""
    return LinkageSchema.from_json(resources.files("aidlink.bench.quality").joinpath(BASELINE_SCHEMA).read_bytes())


def schema_variant(
    schema: LinkageSchema, *, xor_folds: int | None = None, hardening: dict | None = None
) -> LinkageSchema:
    """A copy of ``schema`` with XOR folding and/or aidlink hardening options switched on."""
    document = json.loads(json.dumps(schema.to_json()))
    if xor_folds is not None:
        document["clkConfig"]["xor_folds"] = xor_folds
    if hardening is not None:
        document["aidlinkHardening"] = hardening
    return LinkageSchema.from_json(document)
