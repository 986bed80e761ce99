import csv
import re
from collections import Counter

import pytest

from aidlink.gateway.normalize.issues import RowRejected
from aidlink.gateway.normalize.person import normalize_person
from aidlink.gateway.synthetic import facts as F
from aidlink.gateway.synthetic.corruption import CorruptionProfile
from aidlink.gateway.synthetic.extracts import DEPARTMENTS, department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation

ALL_DEPARTMENTS = ("mca", "edu", "hrss", "housing", "health", "mem", "rural", "union", "cdpf", "nhsa")


@pytest.fixture(scope="module")
def population() -> SyntheticPopulation:
    return SyntheticPopulation.generate(20_000, seed=11)


@pytest.fixture(scope="module")
def mca(population):
    return department_extract(population, "mca", seed=3)


def test_every_department_is_known():
    assert set(DEPARTMENTS) == set(ALL_DEPARTMENTS)


@pytest.mark.parametrize("department", ALL_DEPARTMENTS)
def test_truth_maps_are_consistent(population, department):
    extract = department_extract(population, department, seed=3, corruption=None)
    assert extract.rows, department
    rec_ids = [row["rec_id"] for row in extract.rows]
    assert len(set(rec_ids)) == len(rec_ids) == len(extract.truth)
    assert set(rec_ids) == set(extract.truth)
    assert all(re.fullmatch(rf"{department.upper()}-\d{{6}}", r) for r in rec_ids)
    assert len(set(extract.truth.values())) == len(rec_ids)  # a person appears once per extract
    for row in extract.rows:
        person = population.person(extract.truth[row["rec_id"]])
        assert row["id_number"] == person.id_number and row["name"] == person.name
        assert list(row) == extract.columns
        assert ("household_id" in row) == DEPARTMENTS[department].holds_household_id
        if "household_id" in row:
            assert row["household_id"] == person.household_id


def test_persons_without_any_assistance_appear_in_department_extracts(population):
    for department in ("edu", "nhsa", "cdpf", "health"):
        extract = department_extract(population, department, seed=3, corruption=None)
        persons = [population.person(pid) for pid in extract.truth.values()]
        assert any("mca_category" not in p.attributes for p in persons), department
    mca = department_extract(population, "mca", seed=3, corruption=None)
    assert Counter(row["category"] for row in mca.rows)["monitored"] > 0


def test_department_holdings_follow_the_facts(population):
    mca = department_extract(population, "mca", seed=1, corruption=None)
    held = {population.person(mca.truth[r["rec_id"]]).person_id: r for r in mca.rows}
    for person in population.persons:
        household = population.household(person.household_id)
        if household.category:
            row = held[person.person_id]
            assert row["category"] == household.category
            assert row["dispersed"] == {"dispersed": "1", "centralized": "0"}.get(household.tekun_support, "")
    assert {r["category"] for r in mca.rows} == {"dibao", "tekun", "bianyuan", "zhichu", "linshi", "monitored"}

    edu = department_extract(population, "edu", seed=1, corruption=None)
    for row in edu.rows:
        person = population.person(edu.truth[row["rec_id"]])
        assert 6 <= person.age_on(population.reference_date) <= 22
        assert row["assistance"] == ("1" if F.EDUCATION_ASSISTANCE in person.facts else "0")
        assert (row["assistance_type"] != "") == (row["assistance"] == "1")
    assert {r["assistance"] for r in edu.rows} == {"0", "1"}

    nhsa = department_extract(population, "nhsa", seed=1, corruption=None)
    enrolled = sum(F.MEDICAL_INSURANCE_ENROLLED in p.facts for p in population.persons)
    assert len(nhsa.rows) == enrolled
    assert {"serious_illness", "high_cost", "medical_assistance"} <= set(nhsa.columns)

    cdpf = department_extract(population, "cdpf", seed=1, corruption=None)
    assert all(r["disability_grade"] in ("1", "2", "3", "4") for r in cdpf.rows)


def test_extracts_are_deterministic_per_seed(population):
    first = department_extract(population, "health", seed=5)
    again = department_extract(population, "health", seed=5)
    other = department_extract(population, "health", seed=6)
    assert first.rows == again.rows and first.truth == again.truth
    assert first.rows != other.rows


def test_clean_rows_normalize_to_the_persons_data(population):
    extract = department_extract(population, "cdpf", seed=2, corruption=CorruptionProfile.none())
    for row in extract.rows:
        person = population.person(extract.truth[row["rec_id"]])
        normalized = normalize_person(row, today=population.reference_date)
        assert normalized.flags == []
        assert normalized.features["id_number"] == person.id_number
        assert normalized.features["name"] == person.name
        assert normalized.features["birth_date"] == person.birth_date.strftime("%Y%m%d")
        assert normalized.features["sex"] == person.sex
        assert normalized.features["phone"] == person.phone
        assert normalized.features["address"] == person.address
        assert normalized.division_code == person.division_code


def test_corrupted_rows_still_normalize_to_the_clean_features(population, mca):
    clean = department_extract(population, "mca", seed=3, corruption=None)
    clean_features = {
        clean.truth[r["rec_id"]]: normalize_person(r, today=population.reference_date).features for r in clean.rows
    }
    raw_differs = ids_recovered = identical = rejected = mistyped = 0
    clean_raw = {clean.truth[r["rec_id"]]: r for r in clean.rows}
    for row in mca.rows:
        person_id = mca.truth[row["rec_id"]]
        raw_differs += any(row[k] != clean_raw[person_id][k] for k in ("name", "id_number", "birth_date", "sex"))
        try:
            features = normalize_person(row, today=population.reference_date).features
        except RowRejected:
            rejected += 1
            continue
        mistyped += any(
            "bad check character" in f.reason for f in normalize_person(row, today=population.reference_date).flags
        )
        ids_recovered += features["id_number"] == clean_features[person_id]["id_number"]
        identical += features == clean_features[person_id]
    total = len(mca.rows)
    assert raw_differs > total * 0.5  # the corruption really changes how rows are written
    assert ids_recovered >= 0.9 * total
    assert identical >= 0.8 * total
    assert rejected < 0.01 * total
    assert 0 < mistyped < 0.05 * total  # mistyped ID digits are caught by the check character and flagged


def test_corruption_covers_each_variation(mca):
    rows = mca.rows
    assert any(re.fullmatch(r"\d{15}", r["id_number"]) for r in rows)
    assert any(re.search("[０-９]", r["id_number"] + r["birth_date"] + r["phone"]) for r in rows)
    assert any("年" in r["birth_date"] for r in rows) and any("/" in r["birth_date"] for r in rows)
    assert any("-" in r["birth_date"] for r in rows) and any(re.fullmatch(r"\d{8}", r["birth_date"]) for r in rows)
    assert {r["sex"] for r in rows} >= {"1", "2", "男", "女", "M", "F"}
    assert any(r["phone"].startswith("+86 ") for r in rows)
    assert any(r["address"] and not r["address"].startswith("江苏省") for r in rows)
    assert any(r["address"] == "" for r in rows) and any(r["phone"] == "" for r in rows)


def test_write_csv_in_utf8_and_gb18030(population, mca, tmp_path):
    for encoding in ("utf-8", "gb18030"):
        path = tmp_path / f"mca-{encoding}.csv"
        mca.write_csv(path, encoding=encoding)
        with open(path, encoding=encoding, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows == mca.rows
    with pytest.raises(ValueError, match="encoding"):
        mca.write_csv(tmp_path / "x.csv", encoding="latin-1")


def test_unknown_department_is_refused(population):
    with pytest.raises(ValueError, match="unknown department 'police'"):
        department_extract(population, "police", seed=1)
