"""Blocking through the matcher's store and Exchange, on generated department data."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline, RowRefused, schema_fingerprint
from aidlink.gateway.synthetic import SyntheticPopulation, department_extract
from aidlink.matcher.agreements import AgreementSet
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.datasets import DatasetStore, EncodingSpec
from aidlink.matcher.errors import Incompatible
from aidlink.matcher.exchange import Exchange

SECRET = b"test-blocking-secret-0123456789"
SCHEMA = LinkageSchema.default_chinese()


@pytest.fixture(scope="module")
def encoded():
    population = SyntheticPopulation.generate(2500, seed=41)
    pipeline = RecordPipeline(SCHEMA, SECRET, 1, today=lambda: date(2025, 6, 30))
    sides = []
    for seed in (1, 2):
        records = []
        for row in department_extract(population, "nhsa", seed=seed).rows:
            try:
                encoding, person = pipeline.encode_person(row)
            except RowRefused:
                continue
            records.append((encoding, pipeline.blocking.tokens(person)))
        sides.append(records)
    return sides


def _upload(exchange, department, name, entry, records, secret_version=1, with_keys=True):
    spec = EncodingSpec(1024, secret_version, schema_fingerprint(SCHEMA))
    writer = exchange.begin_upload(department, name, entry, "2023.1", spec, [])
    for i, (encoding, keys) in enumerate(records):
        assert exchange.add_record(writer, i, f"r{i}", encoding, {}, keys if with_keys else ()) is None
    return writer.commit()


def without_volume_limits(agreements: AgreementSet) -> AgreementSet:
    """This file measures blocking on two extracts of ONE population, where every record of one side
    matches the other: far above any agreement's volume limit (matcher.policy), which is not tested here."""
    return AgreementSet(
        agreements.version,
        tuple(replace(a, max_share_per_call=1.0, max_share_per_period=1.0) for a in agreements.agreements),
    )


@pytest.fixture()
def exchange(tmp_path):
    store = DatasetStore(tmp_path)
    yield Exchange(store, Catalog.load(), without_volume_limits(AgreementSet.load()), today=lambda: date(2025, 6, 30))
    store.close()


def test_blocked_compare_keeps_nearly_all_exhaustive_pairs(exchange, encoded):
    _upload(exchange, "mca", "people", "mca.low-income", encoded[0])
    meta = _upload(exchange, "hrss", "people", "hrss.employment", encoded[1])
    assert meta.blocking_keys == len(encoded[1]) * 3  # v2: three tokens per record, always
    progress: list[tuple[int, int]] = []
    blocked = exchange.compare(
        "mca",
        "people",
        "hrss/people",
        "policy-delivery-check",
        0.8,
        True,
        progress=lambda d, t: progress.append((d, t)),
    )
    exchange.blocking = False
    exhaustive = exchange.compare("mca", "people", "hrss/people", "policy-delivery-check", 0.8, True)
    assert blocked.blocked and not exhaustive.blocked
    assert blocked.comparisons * 50 < exhaustive.comparisons
    blocked_pairs = {(m.ref, m.score) for m in blocked.matches}
    exhaustive_pairs = {(m.ref, m.score) for m in exhaustive.matches}
    assert blocked_pairs <= exhaustive_pairs
    assert len(blocked_pairs) >= 0.995 * len(exhaustive_pairs)
    assert progress and progress[-1][0] == progress[-1][1] == len(encoded[0])


def test_datasets_without_tokens_use_the_exhaustive_join(exchange, encoded):
    _upload(exchange, "mca", "plain", "mca.low-income", encoded[0][:300], with_keys=False)
    _upload(exchange, "hrss", "plain", "hrss.employment", encoded[1][:300])
    result = exchange.compare("mca", "plain", "hrss/plain", "policy-delivery-check", 0.8, False)
    assert not result.blocked and result.comparisons == 300 * 300
    assert result.matches  # the shuffled extracts overlap in part


def test_secret_version_mismatch_is_still_refused(exchange, encoded):
    _upload(exchange, "mca", "v1", "mca.low-income", encoded[0][:50])
    _upload(exchange, "hrss", "v2", "hrss.employment", encoded[1][:50], secret_version=2)
    with pytest.raises(Incompatible, match="linkage-secret version 1 and 2"):
        exchange.compare("mca", "v1", "hrss/v2", "policy-delivery-check", 0.8, True)


def test_malformed_blocking_keys_are_refused_per_record(exchange, encoded):
    spec = EncodingSpec(1024, 1, schema_fingerprint(SCHEMA))
    writer = exchange.begin_upload("hrss", "bad", "hrss.employment", "2023.1", spec, [])
    encoding = encoded[1][0][0]
    problem = exchange.add_record(writer, 0, "r0", encoding, {}, [b"short"])
    assert problem is not None and problem.field == "blocking_keys[0]"
    problem = exchange.add_record(writer, 1, "r1", encoding, {}, [b"k" * 8] * 40)
    assert problem is not None and problem.field == "blocking_keys"
    writer.abort()
