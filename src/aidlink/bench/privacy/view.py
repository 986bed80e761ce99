"""What a curious matcher holds: the matcher's view of one department's synthetic dataset.

A population is generated (seed S), written as a department extract (default corruption profile)
and run through the node's real :class:`~aidlink.gateway.pipeline.RecordPipeline` under a secret
the attacker never sees. The view keeps exactly what the matcher stores per record — the
encoding, the blocking tokens in the order the node sent them, the attributes and the opaque
reference — and, apart from it and never given to an attack, the truth the attacks are scored on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.normalize.surnames import split_surname
from aidlink.gateway.pipeline import RecordPipeline
from aidlink.gateway.synthetic import CorruptionProfile, SyntheticPopulation, linkage_pair
from aidlink.gateway.synthetic.population import REFERENCE_DATE, Person

ATTRIBUTES = ("surname", "name", "birth_date", "id_number")  # what the attacks try to re-identify
SENT_ATTRIBUTES = ("school_age",)  # a catalog attribute derived from the birth date, as edu sends it


@dataclass(frozen=True)
class Truth:
    """The plaintext behind each record of a view (scoring only; no attack reads it)."""

    values: dict[str, np.ndarray]  # attribute -> object array of strings, one per record
    person_ids: np.ndarray  # object array: the person behind each record


@dataclass(frozen=True)
class MatcherView:
    """Exactly what the matcher stores for one uploaded dataset, in upload order."""

    schema: LinkageSchema
    encodings: np.ndarray  # (n, bytes) uint8
    blocking_tokens: tuple[tuple[bytes, ...], ...]  # per record, in the order the node sent them
    attributes: tuple[dict[str, str], ...]
    references: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.references)

    @property
    def bits(self) -> np.ndarray:
        """(n, l) uint8 matrix of encoding bits (bit 0 = the high bit of byte 0, as clkhash)."""
        return np.unpackbits(self.encodings, axis=1)


def person_truth(person: Person) -> dict[str, str]:
    return {
        "surname": split_surname(person.name)[0],
        "name": person.name,
        "birth_date": person.birth_date.strftime("%Y%m%d"),
        "id_number": person.id_number,
    }


def build_view(
    schema: LinkageSchema,
    records: int,
    *,
    seed: int,
    corruption: CorruptionProfile | None = None,
    population: SyntheticPopulation | None = None,
) -> tuple[MatcherView, Truth, SyntheticPopulation]:
    """The matcher's view of ``records`` persons of the population of ``seed``, and the truth."""
    if records < 1:
        raise ValueError(f"records must be at least 1, got {records}")
    population = population or SyntheticPopulation.generate(records, seed=seed)
    profile = corruption if corruption is not None else CorruptionProfile.default()
    extract, _ = linkage_pair(population, records, overlap=1.0, seed=seed, corruption=profile)
    secret = hashlib.sha256(f"aidlink bench privacy: the node's secret {seed}".encode()).digest()
    pipeline = RecordPipeline(schema, secret, 1, today=lambda: REFERENCE_DATE)
    tag = hashlib.sha256(f"upload {seed}".encode()).hexdigest()[:12]
    prepared = list(pipeline.dataset(extract.rows, tag=tag, attributes=SENT_ATTRIBUTES))
    width = pipeline.encoder.length_bytes
    encodings = np.frombuffer(b"".join(r.encoding for r in prepared), dtype=np.uint8).reshape(len(prepared), width)
    view = MatcherView(
        schema=schema,
        encodings=encodings,
        blocking_tokens=tuple(r.blocking_tokens for r in prepared),
        attributes=tuple(r.attributes for r in prepared),
        references=tuple(r.ref for r in prepared),
    )
    persons = [population.person(extract.truth[r.record_id]) for r in prepared]
    truths = [person_truth(p) for p in persons]
    values = {a: np.array([t[a] for t in truths], dtype=object) for a in ATTRIBUTES}
    truth = Truth(values, np.array([p.person_id for p in persons], dtype=object))
    return view, truth, population
