"""Encodings of synthetic department extracts under a shipped linkage schema, for the benches
that time a join on what a schema really produces (``bench kernel --schema``, ``bench dask
--blocked --schema``) rather than on random vectors."""

from __future__ import annotations

import os

import numpy as np

SCHEMAS = ("chinese-person-v2.1", "chinese-person-v2", "chinese-person-v3")


def policy_of(schema):
    """What the matcher applies to ``schema``'s encodings (a ``LinkageSchema``; calibrated
    threshold, optional segments): looked up by fingerprint, as the matcher does, never by name."""
    from aidlink.gateway.pipeline import schema_fingerprint
    from aidlink.matcher.datasets import EncodingSpec
    from aidlink.matcher.schema_policies import schema_policy

    return schema_policy(EncodingSpec(bits=1024, secret_version=1, schema_fingerprint=schema_fingerprint(schema)))


def schema_policy_of(schema: str):
    """:func:`policy_of` the shipped schema named ``schema`` (a file stem of ``SCHEMAS``)."""
    from aidlink.gateway.encoding import LinkageSchema

    return policy_of(LinkageSchema.shipped(f"{schema}.json"))


def missing_aware(schema: str | None) -> bool:
    """Whether the matcher compares this shipped schema's encodings missing-aware."""
    return schema is not None and bool(schema_policy_of(schema).optional_segments.ranges)


def make_schema_datasets(n: int, schema: str, seed: int, processes: int | None = None):
    """Two medical-insurance extracts (independently corrupted) of one synthetic population, ``n``
    rows each, encoded with the shipped ``schema`` and its blocking tokens: A, B (uint8 rows; rows
    the pipeline refuses are left out) and their tokens (``BlockingKeys``)."""
    import multiprocessing

    from aidlink.bench.scale import _encode_rows, _init_worker
    from aidlink.gateway.synthetic import SyntheticPopulation, department_extract
    from aidlink.matcher.similarity.blocking import BlockingKeys

    population = SyntheticPopulation.generate(int(n / 0.95) + 100, seed=seed)
    sides = [department_extract(population, "nhsa", seed=seed + k).rows[:n] for k in (1, 2)]
    slices = [[rows[i : i + 5000] for i in range(0, len(rows), 5000)] for rows in sides]
    if n <= 5000:  # one slice a side: encoded here, no worker processes (nor a fork)
        _init_worker(f"{schema}.json")
        parts = [[_encode_rows(part) for part in side] for side in slices]
    else:
        with multiprocessing.get_context("fork").Pool(
            processes or os.cpu_count() or 1, initializer=_init_worker, initargs=(f"{schema}.json",)
        ) as pool:
            parts = [pool.map(_encode_rows, side) for side in slices]
    out = []
    for side in parts:
        encoded = [r for part in side for r in part if r is not None]
        encodings = np.frombuffer(b"".join(e for e, _ in encoded), dtype=np.uint8).reshape(len(encoded), -1)
        out += [encodings, BlockingKeys.from_tokens([t for _, t in encoded])]
    a, a_tokens, b, b_tokens = out
    return a, b, a_tokens, b_tokens
