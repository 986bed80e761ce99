"""Risk rules as data: bad rule files are refused naming rule and key; planted
persons who must be warned are warned, look-alikes are not, and nothing else."""

from __future__ import annotations

import random

import pytest

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline
from aidlink.gateway.synthetic import corruption as C
from aidlink.gateway.synthetic.extracts import _person_fields
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.agreements import AgreementSet
from aidlink.matcher.calls import Caller
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.datasets import DatasetStore, EncodingSpec
from aidlink.matcher.errors import NotPermitted
from aidlink.matcher.monitoring.monitor import Monitor
from aidlink.matcher.monitoring.rules import RuleError, RuleSet
from aidlink.matcher.monitoring.warnings import InvalidTransition

CATALOG = Catalog.load()
GOOD_RULE = """
version = "t1"
[[rule]]
id = "r1"
type = "illness"
level = "red"
reason = "ill"
in = { "nhsa.medical" = { serious_illness = ["1"] } }
"""


def test_default_rule_set_loads_against_the_catalog():
    rules = RuleSet.load(catalog=CATALOG)
    assert {r.type for r in rules.rules} == {
        "policy-not-delivered",
        "illness",
        "schooling",
        "disability",
        "unemployment",
        "disaster",
    }
    assert {r.level for r in rules.rules} == {"red", "orange", "yellow"}
    assert all(r.reason and r.subject in r.positive_entries() for r in rules.rules)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            ('level = "red"', 'level = "purple"'),
            "rule #1 (r1): 'level' must be one of red, orange, yellow, not 'purple'",
        ),
        (('type = "illness"', 'type = "poverty"'), "rule #1 (r1): 'type' must be one of"),
        (('reason = "ill"', ""), "rule #1 (r1): 'reason' is required"),
        (
            ("serious_illness", "cancer"),
            "in.'nhsa.medical': attribute 'cancer' is not an information item of catalog entry nhsa.medical",
        ),
        (('"nhsa.medical"', '"nhsa.unknown"'), "no catalog entry 'nhsa.unknown'"),
        (("in = {", "inn = {"), "rule #1 (r1): unknown key(s) inn"),
        (('["1"]', "[1]"), "'serious_illness' must be a non-empty list of strings"),
        (('version = "t1"', ""), "missing rule set 'version'"),
        (("[[rule]]", "[[rule]"), "not valid TOML"),
    ],
)
def test_bad_rule_files_are_refused_naming_rule_and_key(change, message):
    text = GOOD_RULE.replace(*change)
    with pytest.raises(RuleError) as err:
        RuleSet.parse(text, "rules.toml", CATALOG)
    assert message in str(err.value)
    assert str(err.value).startswith("rules.toml")


def test_duplicate_ids_and_a_subject_outside_the_conditions_are_refused():
    with pytest.raises(RuleError, match="duplicate rule id 'r1'"):
        RuleSet.parse(GOOD_RULE + GOOD_RULE.replace('version = "t1"', ""), "x", CATALOG)
    with pytest.raises(RuleError, match="'subject' 'mca.low-income' must be one of the entries"):
        RuleSet.parse(GOOD_RULE + 'subject = "mca.low-income"\n', "x", CATALOG)


# -- planted scenario -------------------------------------------------------------------------------
# person key -> {catalog entry: attributes}; "warned" lists the rules that must fire, nothing else may.
NHSA_OK = {"serious_illness": "0", "high_cost": "0", "medical_assistance": "1"}
SCENARIO = {
    "A1": ({"mca.low-income": {"category": "dibao"}}, {"pnd.no-medical-insurance"}),
    "A2": ({"mca.low-income": {"category": "dibao"}, "nhsa.medical": NHSA_OK}, set()),
    "A3": ({"mca.low-income": {"category": "bianyuan"}}, set()),
    "B1": (
        {
            "mca.low-income": {"category": "tekun", "dispersed": "0"},
            "nhsa.medical": {**NHSA_OK, "medical_assistance": "0"},
        },
        {"pnd.no-medical-assistance"},
    ),
    "B2": ({"mca.low-income": {"category": "zhichu"}, "nhsa.medical": {**NHSA_OK, "medical_assistance": "0"}}, set()),
    "C1": (
        {"mca.low-income": {"category": "dibao"}, "edu.students": {"assistance": "0"}, "nhsa.medical": NHSA_OK},
        {"pnd.no-education-assistance"},
    ),
    "C2": (
        {"mca.low-income": {"category": "dibao"}, "edu.students": {"assistance": "1"}, "nhsa.medical": NHSA_OK},
        set(),
    ),
    "C3": ({"edu.students": {"assistance": "0"}}, set()),
    # C4 is not in mca; its parent C5 is, and both are in housing with the same household token.
    "C4": (
        {"edu.students": {"assistance": "0"}, "housing.support": {"rent_subsidy": "1", "household": "T1"}},
        {"pnd.no-education-assistance"},
    ),
    "C5": (
        {
            "mca.low-income": {"category": "dibao"},
            "nhsa.medical": NHSA_OK,
            "housing.support": {"rent_subsidy": "1", "household": "T1"},
        },
        set(),
    ),
    "D1": (
        {"mca.low-income": {"category": "tekun", "dispersed": "1"}, "nhsa.medical": NHSA_OK},
        {"pnd.dispersed-tekun-no-housing"},
    ),
    "D2": (
        {
            "mca.low-income": {"category": "tekun", "dispersed": "1"},
            "nhsa.medical": NHSA_OK,
            "housing.support": {"rent_subsidy": "1"},
        },
        set(),
    ),
    "D3": ({"mca.low-income": {"category": "tekun", "dispersed": "0"}, "nhsa.medical": NHSA_OK}, set()),
    "E1": ({"nhsa.medical": {**NHSA_OK, "serious_illness": "1", "medical_assistance": "0"}}, {"illness.not-assisted"}),
    "E2": (
        {"nhsa.medical": {**NHSA_OK, "high_cost": "1"}, "mca.low-income": {"category": "monitored"}},
        {"illness.not-assisted"},
    ),
    "E3": ({"nhsa.medical": {**NHSA_OK, "serious_illness": "1"}, "mca.low-income": {"category": "linshi"}}, set()),
    "E4": ({"health.serious-illness": {"disease": "cancer"}}, {"illness.not-assisted"}),
    "F1": (
        {"mca.low-income": {"category": "bianyuan"}, "hrss.employment": {"registered_unemployed": "1"}},
        {"unemployment.bianyuan-member"},
    ),
    "F2": (
        {
            "mca.low-income": {"category": "dibao"},
            "nhsa.medical": NHSA_OK,
            "hrss.employment": {"registered_unemployed": "1"},
        },
        set(),
    ),
    "F3": ({"hrss.employment": {"registered_unemployed": "1"}}, set()),
    "F4": ({"mca.low-income": {"category": "bianyuan"}, "hrss.employment": {"registered_unemployed": "0"}}, set()),
    "G1": ({"mem.disaster": {"disaster_type": "flood"}}, {"disaster.not-covered"}),
    "G2": ({"mem.disaster": {"disaster_type": "flood"}, "mca.low-income": {"category": "monitored"}}, set()),
    "H1": ({"cdpf.disability": {"disability_grade": "1"}}, {"disability.severe-not-covered"}),
    "H2": ({"cdpf.disability": {"disability_grade": "3"}}, set()),
    "H3": (
        {
            "cdpf.disability": {"disability_grade": "2"},
            "mca.low-income": {"category": "dibao"},
            "nhsa.medical": NHSA_OK,
        },
        set(),
    ),
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    population = SyntheticPopulation.generate(400, seed=11)
    firsts = [population.person(h.member_ids[0]) for h in population.households]
    people = dict(zip(SCENARIO, firsts))
    encoder = RecordPipeline(LinkageSchema.default_chinese(), b"s" * 32, 1)
    store = DatasetStore(root)
    rng = random.Random(3)
    for entry_id in sorted({e for held, _ in SCENARIO.values() for e in held}):
        entry = CATALOG.entries[entry_id]
        writer = store.writer(
            entry.provider,
            entry_id.split(".", 1)[1],
            entry_id,
            CATALOG.version,
            EncodingSpec(1024, 1, "fp"),
            entry.attributes + ("household",),
        )
        keys = [k for k, (held, _) in SCENARIO.items() if entry_id in held]
        rng.shuffle(keys)
        for key in keys:
            row = _person_fields(people[key], C.CorruptionProfile.none(), rng)
            encoding, _ = encoder.encode_person(row)
            writer.add(f"{entry.provider}-{key}", encoding, SCENARIO[key][0][entry_id])
        writer.commit()
    monitor = Monitor(root, store, CATALOG, AgreementSet.load())
    summary = monitor.rebuild()
    yield monitor, summary, root
    monitor.close()
    store.close()


def _person(monitor, cluster_id) -> str:
    keys = {r.ref.split("-", 1)[1] for r in monitor.clusters.records(cluster_id)}
    assert len(keys) == 1, f"cluster {cluster_id} mixes persons {keys}"
    return keys.pop()


def test_planted_cases_raise_exactly_the_expected_warnings(planted):
    monitor, summary, _ = planted
    lead = Caller("mca", "test:mca")
    found = {(w.rule_id, _person(monitor, w.cluster_id)) for w in monitor.warnings(lead, limit=10**6)}
    expected = {(rule, key) for key, (_, rules) in SCENARIO.items() for rule in rules}
    assert found == expected
    assert summary.households == 1 and summary.raised == len(expected)
    # every planted person is one cluster holding all of its records
    assert summary.clusters == len(SCENARIO)


def test_warnings_carry_type_level_reason_and_filter(planted):
    monitor, _, _ = planted
    lead = Caller("mca", "test:mca")
    red = monitor.warnings(lead, levels=["red"], limit=100)
    assert {w.rule_id for w in red} == {"pnd.no-medical-insurance", "illness.not-assisted"}
    illness = monitor.warnings(lead, types=["illness"], limit=100)
    assert len(illness) == 3 and all("重病大病" in w.reason and w.status == "new" for w in illness)
    assert monitor.warnings(lead, statuses=["closed"], limit=100) == []
    with pytest.raises(NotPermitted, match="civil affairs leads monitoring"):
        monitor.warnings(Caller("edu", "test:edu"), limit=10)


def test_lifecycle_refuses_invalid_steps_and_records_who_and_when(planted):
    monitor, _, _ = planted
    lead = Caller("mca", "cn=mca-node serial=0x1")
    w = monitor.warnings(lead, types=["disaster"], limit=1)[0]
    with pytest.raises(
        InvalidTransition, match=r"is 'new'; it cannot become 'visited' \(allowed next: assigned, closed\)"
    ):
        monitor.lifecycle.change(w.id, "visited", lead)
    monitor.lifecycle.change(w.id, "assigned", lead, assignee="盐都区民政局")
    monitor.lifecycle.change(w.id, "visited", lead, note="入户核查")
    done = monitor.lifecycle.change(w.id, "admitted", lead)
    with pytest.raises(InvalidTransition, match="none: it is final"):
        monitor.lifecycle.change(w.id, "closed", lead)
    history = monitor.store.warning_events(w.id)
    assert [(e.from_status, e.to_status) for e in history] == [
        ("", "new"),
        ("new", "assigned"),
        ("assigned", "visited"),
        ("visited", "admitted"),
    ]
    assert history[1].identity == lead.identity and history[1].assignee == "盐都区民政局"
    assert history[2].note == "入户核查" and history[0].department == "matcher"
    assert done.status == "admitted" and done.assignee == "盐都区民政局"


def test_a_rebuild_keeps_warnings_and_their_state(planted):
    monitor, _, _ = planted
    lead = Caller("mca", "test:mca")
    before = {w.id: (w.rule_id, w.cluster_id, w.status) for w in monitor.warnings(lead, limit=10**6)}
    again = monitor.rebuild()
    after = {w.id: (w.rule_id, w.cluster_id, w.status) for w in monitor.warnings(lead, limit=10**6)}
    assert again.raised == 0 and again.auto_closed == 0 and after == before
