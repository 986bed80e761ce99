"""The policy gate's rules as plain domain code (matcher.policy): threshold floor, probe
refusal, purpose binding and volume limits, the ledger on SQLite and a real PostgreSQL.
The same rules over real mTLS, as a hostile department tries them: test_policy_hostile.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from aidlink.database.url import sqlite_url
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline, RowRefused, schema_fingerprint
from aidlink.gateway.synthetic import SyntheticPopulation, department_extract
from aidlink.matcher.agreements import AgreementError, AgreementSet
from aidlink.matcher.comparison import DEFAULT_THRESHOLD
from aidlink.matcher.datasets import DatasetVersion, EncodingSpec
from aidlink.matcher.errors import BelowThresholdFloor, InvalidInput, ProbeRefused, PurposeRefused, VolumeLimitExceeded
from aidlink.matcher.policy import (
    ALWAYS_ALLOWED_RECORDS,
    DEFAULT_SCHEMA_FINGERPRINT,
    SCHEMA_POLICIES,
    PolicyGate,
    VolumeLedger,
    allowed_records,
)
from aidlink.matcher.schema_policies import V2_CALIBRATED_THRESHOLD, V3_SCHEMA_FINGERPRINT
from tests.support.postgres import postgres_unreachable, scratch_schema

SCHEMA = LinkageSchema.default_chinese()
SPEC = EncodingSpec(1024, 1, DEFAULT_SCHEMA_FINGERPRINT)
V3_SPEC = EncodingSpec(1024, 1, V3_SCHEMA_FINGERPRINT)
OTHER_SPEC = EncodingSpec(1024, 1, "some-other-schema")
TODAY = date(2025, 6, 30)
_UNREACHABLE = postgres_unreachable()


def dataset(department: str = "mca", name: str = "low-income", entry: str = "mca.low-income") -> DatasetVersion:
    return DatasetVersion(1, department, name, 1, entry, "2023.1", SPEC, ("category",), 100)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        ledger = VolumeLedger(sqlite_url(tmp_path / "policy.sqlite"))
        yield ledger
        ledger.close()
        return
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    with scratch_schema() as url:
        ledger = VolumeLedger(url)
        yield ledger
        ledger.close()


@pytest.fixture()
def gate(tmp_path):
    ledger = VolumeLedger(tmp_path / "policy.sqlite")
    yield PolicyGate(AgreementSet.load(), ledger, today=lambda: TODAY)
    ledger.close()


# -- the schema's figures ---------------------------------------------------------------------------


def test_the_table_names_the_default_schema_as_it_is_now():
    # A changed schema changes its fingerprint: its band and floor must then be measured again.
    assert schema_fingerprint(SCHEMA) == DEFAULT_SCHEMA_FINGERPRINT


def test_every_record_the_schema_produces_is_plausible_and_probes_are_not(gate):
    population = SyntheticPopulation.generate(600, seed=5)
    node = RecordPipeline(SCHEMA, b"policy-test-secret-0123456789abc", 1, today=lambda: TODAY)
    encodings = []
    for dept in ("mca", "nhsa", "edu"):
        for row in department_extract(population, dept, seed=5).rows:
            sparse = {"name": row["name"], "birth_date": row.get("birth_date", "")}
            for variant in (row, sparse):
                try:
                    encodings.append(node.encode_person(variant)[0])
                except RowRefused:
                    pass
    assert len(encodings) > 800
    assert [e for e in encodings if gate.implausible(SPEC, e)] == []
    for probe, what in (
        (b"\xff" * 128, "all ones"),
        (bytes(128), "all zeros"),
        (np.packbits(np.arange(1024) < 700).tobytes(), "700 of 1024 bits set"),
        (np.packbits(np.arange(1024) < 120).tobytes(), "120 of 1024 bits set"),
    ):
        assert what in gate.implausible(SPEC, probe)
        assert gate.record_problem(SPEC, 3, "r3", probe).startswith("probe refused: record 3 (ref 'r3') is ")
        with pytest.raises(ProbeRefused, match="^probe refused: the queried encoding is "):
            gate.check_query(SPEC, probe)


def test_other_schemas_still_refuse_all_zeros_and_all_ones(gate):
    half = np.packbits(np.arange(1024) % 2 == 0).tobytes()
    assert gate.implausible(OTHER_SPEC, half) is None
    assert "all ones" in gate.implausible(OTHER_SPEC, b"\xff" * 128)
    assert "all zeros" in gate.implausible(OTHER_SPEC, bytes(128))


# -- threshold floor ----------------------------------------------------------------------------------


def test_the_default_is_the_calibrated_threshold_and_requests_below_the_floor_are_refused(gate):
    floor = SCHEMA_POLICIES[DEFAULT_SCHEMA_FINGERPRINT].threshold_floor
    assert floor == 0.65 and V2_CALIBRATED_THRESHOLD == 0.72
    assert gate.threshold(0, None, SPEC) == V2_CALIBRATED_THRESHOLD
    assert gate.threshold(0.65, None, SPEC) == 0.65 and gate.threshold(0.95, None, SPEC) == 0.95
    for low in (0.64, 0.01, 1e-9):
        with pytest.raises(BelowThresholdFloor, match=r"^threshold floor: .* is below 0\.65 \(the linkage schema's"):
            gate.threshold(low, None, SPEC)
    # The earlier default schema (v3) keeps its own calibration: 0.8, floor 0.7.
    assert gate.threshold(0, None, V3_SPEC) == DEFAULT_THRESHOLD == 0.8
    with pytest.raises(BelowThresholdFloor, match=r"is below 0\.7 "):
        gate.threshold(0.69, None, V3_SPEC)
    with pytest.raises(InvalidInput, match="outside"):
        gate.threshold(1.5, None, SPEC)


def test_an_agreement_raises_the_floor_and_never_lowers_it(gate):
    agreement = next(a for a in AgreementSet.load().agreements if a.id == "art14-4b.nhsa-to-mca")
    stricter = replace(agreement, min_threshold=0.9)
    assert gate.threshold(0, stricter, SPEC) == 0.9
    with pytest.raises(BelowThresholdFloor, match="agreement art14-4b.nhsa-to-mca's min_threshold"):
        gate.threshold(0.85, stricter, SPEC)
    laxer = replace(agreement, min_threshold=0.3)
    with pytest.raises(BelowThresholdFloor, match="below 0.65"):
        gate.threshold(0.5, laxer, SPEC)
    assert gate.threshold(0, laxer, SPEC) == V2_CALIBRATED_THRESHOLD


def test_a_configured_default_below_the_floor_is_not_used():
    gate = PolicyGate(AgreementSet.load(), ledger=None, default_threshold=0.2)
    assert gate.threshold(0, None, SPEC) == 0.65


# -- agreements state their limits -------------------------------------------------------------------

AGREEMENT = """
version = "t"
[[agreement]]
id = "a"
provider = "mca"
user = "edu"
catalog_entries = ["mca.low-income"]
purposes = ["eligibility-check"]
returns = ["category"]
valid_from = "2023-01-01"
valid_until = "2028-12-31"
"""


@pytest.mark.parametrize(
    "extra, message",
    [
        ("max_share_per_call = 1.5", "max_share_per_call must be a number in (0, 1]"),
        ("min_threshold = 0", "min_threshold must be a number in (0, 1]"),
        ("period_days = 0", "period_days must be a whole number of days >= 1"),
        ("max_share_per_call = 0.4\nmax_share_per_period = 0.3", "max_share_per_period (0.3) is below"),
    ],
)
def test_bad_limits_in_an_agreement_are_refused_naming_the_key(extra, message):
    with pytest.raises(
        AgreementError,
        match=r"agreement #1 \(a\): " + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\."),
    ):
        AgreementSet.parse(AGREEMENT + extra)


def test_limits_parse_and_default():
    plain = AgreementSet.parse(AGREEMENT).agreements[0]
    assert (plain.min_threshold, plain.max_share_per_call, plain.max_share_per_period, plain.period_days) == (
        None,
        0.5,
        0.6,
        30,
    )
    stated = AgreementSet.parse(
        AGREEMENT + "min_threshold = 0.85\nmax_share_per_call = 0.2\nmax_share_per_period = 0.25\nperiod_days = 7"
    ).agreements[0]
    assert (stated.min_threshold, stated.max_share_per_call, stated.max_share_per_period, stated.period_days) == (
        0.85,
        0.2,
        0.25,
        7,
    )


# -- purpose ------------------------------------------------------------------------------------------


def test_the_referral_purpose_is_refused_outside_its_workflow(gate):
    with pytest.raises(
        PurposeRefused,
        match="^purpose: 'referral' is refused in compare: the referral purpose "
        "is usable only inside the referral workflow, for a warning that exists",
    ):
        gate.check_purpose("referral", "compare")
    gate.check_purpose("eligibility-check", "compare")


def test_every_agreement_covering_the_user_applies_its_filter_whatever_the_purpose(gate):
    agreements = AgreementSet.load()
    art17 = next(a for a in agreements.agreements if a.id == "art17.referral-from-mca")
    assert not art17.record_filter  # alone, it would admit every low-income record to edu
    bound = gate.bind(art17, "edu", dataset())
    records = [
        {"category": "dibao", "school_age": "yes"},
        {"category": "dibao", "school_age": "no"},
        {"category": "linshi", "school_age": "yes"},
        {"category": "monitored", "school_age": "yes"},
    ]
    assert [bound.admits(r) for r in records] == [True, False, False, False]
    assert bound.id == art17.id and bound.filter_key == (art17.id, "art14-1a.mca-to-edu")
    art14 = next(a for a in agreements.agreements if a.id == "art14-1a.mca-to-edu")
    assert [gate.bind(art14, "edu", dataset()).admits(r) for r in records] == [art14.admits(r) for r in records]


def test_two_filters_for_two_purposes_meet(tmp_path):
    text = (
        AGREEMENT
        + 'record_filter = [{ category = ["dibao", "tekun"] }]\n'
        + AGREEMENT.split("\n", 2)[2]
        .replace('id = "a"', 'id = "b"')
        .replace("eligibility-check", "policy-delivery-check")
        + 'record_filter = [{ category = ["tekun", "linshi"] }]\n'
    )
    agreements = AgreementSet.parse(text)
    gate = PolicyGate(agreements, ledger=None, today=lambda: TODAY)
    for agreement in agreements.agreements:
        bound = gate.bind(agreement, "edu", dataset())
        assert [bound.admits({"category": c}) for c in ("dibao", "tekun", "linshi")] == [False, True, False]


# -- volume limits ------------------------------------------------------------------------------------


def test_allowed_records_is_the_share_rounded_down_and_a_few_records_always():
    assert allowed_records(0.5, 335) == 167 and allowed_records(0.6, 1000) == 600
    assert allowed_records(0.5, 10) == allowed_records(0.1, 200) == ALWAYS_ALLOWED_RECORDS == 25


def test_the_ledger_refuses_beyond_the_share_per_call_and_per_period(ledger):
    agreement = replace(
        next(a for a in AgreementSet.load().agreements if a.id == "art14-2a.mca-to-hrss"),
        max_share_per_call=0.3,
        max_share_per_period=0.5,
        period_days=30,
    )
    other, now = dataset(), datetime(2025, 6, 30, 9, tzinfo=UTC)
    key = f"{other.qualified_name}@v{other.version}"
    refs = [f"r{i}" for i in range(1000)]
    per_call = (
        r"^volume limit: this call would reveal 301 of the 1000 records of mca/low-income v1 that agreement "
        r"art14-2a.mca-to-hrss admits for hrss \(30%\); the agreement allows 30% \(300\) per call"
    )
    with pytest.raises(VolumeLimitExceeded, match=per_call) as err:
        ledger.reveal("hrss", agreement, other, refs[:301], 1000, now)
    assert err.value.status == "RESOURCE_EXHAUSTED" and err.value.agreement == agreement.id
    ledger.reveal("hrss", agreement, other, refs[:300], 1000, now)
    ledger.reveal("hrss", agreement, other, refs[:300], 1000, now + timedelta(hours=1))  # the same again: no more
    ledger.reveal("hrss", agreement, other, refs[300:500], 1000, now + timedelta(hours=2))
    assert ledger.revealed("hrss", agreement.id, key, now - timedelta(days=1)) == 500
    per_period = (
        r"^volume limit: with this call hrss would have been shown 501 .* in 30 days "
        r"\(50%; 500 before it\); the agreement allows 50% \(500\)"
    )
    with pytest.raises(VolumeLimitExceeded, match=per_period):
        ledger.reveal("hrss", agreement, other, refs[500:501], 1000, now + timedelta(days=1))
    # refused calls are not counted; other departments and dataset versions have their own count
    assert ledger.revealed("hrss", agreement.id, key, now - timedelta(days=1)) == 500
    ledger.reveal("housing", agreement, other, refs[500:800], 1000, now)
    ledger.reveal("hrss", agreement, replace(other, version=2), refs[500:800], 1000, now)
    # once the period has passed, the older reveals no longer count
    ledger.reveal("hrss", agreement, other, refs[500:800], 1000, now + timedelta(days=31))
    assert ledger.revealed("hrss", agreement.id, key, now + timedelta(days=2)) == 300


def test_a_few_records_are_always_allowed(ledger):
    agreement = replace(
        next(a for a in AgreementSet.load().agreements if a.id == "art14-2a.mca-to-hrss"),
        max_share_per_call=0.1,
        max_share_per_period=0.1,
    )
    now = datetime(2025, 6, 30, 9, tzinfo=UTC)
    ledger.reveal("hrss", agreement, dataset(), [f"r{i}" for i in range(25)], 30, now)
    with pytest.raises(VolumeLimitExceeded, match="26 of the 30 records"):
        ledger.reveal("hrss", agreement, dataset(), ["r25"], 30, now)
