"""The figures behind matcher/schema_policies.py for one shipped schema.

Density of five departments' rows (mca, edu, nhsa, hrss, cdpf of a population of 4,000, seed 7)
encoded under two secrets, and the missing-aware scores of mca x nhsa: the lowest score of one
person, and how many pairs of different persons reach 0.6, 0.65, 0.7 and 0.75.

    python docs/scripts/policy_figures.py chinese-person-v2.1.json
"""

from __future__ import annotations

import sys

import numpy as np

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline, RowRefused
from aidlink.gateway.synthetic import SyntheticPopulation
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.matcher.missing_aware import missing_aware_pairs
from aidlink.matcher.schema_policies import V2_OPTIONAL_SEGMENTS
from aidlink.matcher.similarity import candidate_pairs

DEPARTMENTS = ("mca", "edu", "nhsa", "hrss", "cdpf")
SECRETS = (b"secret one" * 4, b"secret two" * 4)


def encoded(schema: LinkageSchema, secret: bytes, rows: list[dict[str, str]]) -> list[tuple[str, np.ndarray]]:
    pipeline = RecordPipeline(schema, secret, 1)
    out = []
    for row in rows:
        try:
            encoding, _ = pipeline.encode_person(row)
        except RowRefused:
            continue
        out.append((row["rec_id"], np.frombuffer(encoding, dtype=np.uint8)))
    return out


def main(name: str) -> None:
    schema = LinkageSchema.shipped(name)
    population = SyntheticPopulation.generate(4000, seed=7)
    extracts = {d: department_extract(population, d, seed=7) for d in DEPARTMENTS}
    first: dict[str, list[tuple[str, np.ndarray]]] = {}
    densities = []
    for secret in SECRETS:
        for department, extract in extracts.items():
            rows = encoded(schema, secret, extract.rows)
            first.setdefault(department, rows)
            densities.extend(float(np.unpackbits(e).mean()) for _, e in rows)
    d = np.array(densities)
    q = {p: np.quantile(d, p) for p in (0.001, 0.01, 0.99, 0.999)}
    print(
        f"records {len(d)}; density min {d.min():.3f} p0.1 {q[0.001]:.3f} p1 {q[0.01]:.3f} median {np.median(d):.3f} "
        f"p99 {q[0.99]:.3f} p99.9 {q[0.999]:.3f} max {d.max():.3f}"
    )
    a = np.stack([e for _, e in first["mca"]])
    b = np.stack([e for _, e in first["nhsa"]])
    persons_a = [extracts["mca"].truth[r] for r, _ in first["mca"]]
    persons_b = [extracts["nhsa"].truth[r] for r, _ in first["nhsa"]]
    pairs, _ = missing_aware_pairs(a, b, V2_OPTIONAL_SEGMENTS, lambda x, y, *_: candidate_pairs(x, y, 0.5))
    same = np.array([persons_a[i] == persons_b[j] for i, j in zip(pairs.a_index, pairs.b_index, strict=True)])
    scores = pairs.scores
    print(
        f"mca {len(a)} x nhsa {len(b)}: {int(same.sum())} same-person pairs >= 0.5, lowest "
        f"{scores[same].min():.3f}, p1 {np.quantile(scores[same], 0.01):.3f}"
    )
    other = scores[~same]
    counts = ", ".join(f">= {t} {int((other >= t).sum())}" for t in (0.6, 0.65, 0.7, 0.75))
    print(f"pairs of different persons: highest {other.max():.3f}; {counts}")


if __name__ == "__main__":
    main(sys.argv[1])
