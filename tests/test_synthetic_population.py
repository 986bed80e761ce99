from collections import Counter, defaultdict

import pytest

from aidlink.gateway.normalize.address import parse_address
from aidlink.gateway.normalize.divisions import jiangsu_divisions
from aidlink.gateway.normalize.names import name_pinyin, to_simplified
from aidlink.gateway.normalize.resident_id import normalize_resident_id
from aidlink.gateway.synthetic import facts as F
from aidlink.gateway.synthetic.corruption import traditional_forms
from aidlink.gateway.synthetic.homophones import HOMOPHONE_GROUPS
from aidlink.gateway.synthetic.population import SyntheticPopulation


@pytest.fixture(scope="module")
def population() -> SyntheticPopulation:
    return SyntheticPopulation.generate(20_000, seed=7)


def _key(p):
    return (p.person_id, p.household_id, p.name, p.id_number, p.birth_date, p.sex, p.phone, p.address, p.facts)


def test_same_seed_same_population_other_seed_differs(population):
    again = SyntheticPopulation.generate(20_000, seed=7)
    assert [_key(p) for p in again.persons] == [_key(p) for p in population.persons]
    other = SyntheticPopulation.generate(2_000, seed=8)
    assert [_key(p) for p in other.persons] != [_key(p) for p in population.persons[:2_000]]


def test_exact_person_count_and_unique_ids(population):
    assert len(population.persons) == 20_000
    assert len({p.person_id for p in population.persons}) == 20_000
    assert len({p.id_number for p in population.persons}) == 20_000
    assert SyntheticPopulation.generate(0, seed=1).persons == []


def test_ids_are_valid_and_consistent_with_birth_date_and_sex(population):
    county_codes = {d.code for d in jiangsu_divisions().counties}
    for p in population.persons:
        rid = normalize_resident_id(p.id_number, today=population.reference_date)
        assert rid.number == p.id_number
        assert rid.birth_date == p.birth_date
        assert rid.sex == p.sex
        assert rid.division_code in county_codes


def test_households_share_address_and_members_are_listed(population):
    by_household = defaultdict(list)
    for p in population.persons:
        by_household[p.household_id].append(p)
    assert len(by_household) == len(population.households)
    for household in population.households:
        members = by_household[household.household_id]
        assert tuple(m.person_id for m in members) == household.member_ids
        assert {m.address for m in members} == {household.address}
        assert {m.division_code for m in members} == {household.division_code}
        assert all(household.facts <= m.facts for m in members)
        assert all(m.attributes.get("mca_category", "") == household.category for m in members)
        assert (household.tekun_support != "") == (household.category == F.TEKUN)
    sizes = Counter(len(h.member_ids) for h in population.households)
    assert sizes[1] > 0 and sizes[4] > 0
    shared_phone = sum(
        1
        for h in population.households
        if h.phone and sum(population.person(i).phone == h.phone for i in h.member_ids) >= 2
    )
    assert shared_phone > len(population.households) // 10


def test_addresses_are_canonical_and_resolve_to_the_county(population):
    for household in population.households[:3000]:
        parsed = parse_address(household.address)
        assert parsed.canonical == household.address
        assert parsed.division_code == household.division_code
        assert parsed.township


def test_twins_share_birth_date_surname_and_household(population):
    twins = []
    for household in population.households:
        births = Counter(population.person(i).birth_date for i in household.member_ids)
        twins += [(household, b) for b, n in births.items() if n >= 2]
    assert twins
    for household, birth in twins[:20]:
        pair = [population.person(i) for i in household.member_ids if population.person(i).birth_date == birth]
        assert pair[0].name[0] == pair[1].name[0]
        assert pair[0].name != pair[1].name


def test_name_frequencies_look_chinese(population):
    surnames = Counter(p.name[0] for p in population.persons if "·" not in p.name)
    assert {s for s, _ in surnames.most_common(5)} <= {"王", "李", "张", "刘", "陈", "杨"}
    full_names = Counter(p.name for p in population.persons)
    assert full_names.most_common(1)[0][1] >= 10  # many people share a name
    assert any("·" in p.name for p in population.persons)
    assert any(p.name[:2] in ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫") for p in population.persons)
    assert all(1 <= len(p.name) <= 4 or "·" in p.name for p in population.persons)


def test_low_income_population_is_older_and_younger(population):
    def share_elderly_or_children(people):
        ages = [p.age_on(population.reference_date) for p in people]
        return sum(a >= 60 or a < 18 for a in ages) / len(ages)

    assisted = [p for p in population.persons if p.attributes.get("mca_category") in F.LOW_INCOME]
    unassisted = [p for p in population.persons if "mca_category" not in p.attributes]
    assert share_elderly_or_children(assisted) > share_elderly_or_children(unassisted)


def test_facts_correlate_with_category(population):
    def rate(fact, people):
        return sum(fact in p.facts for p in people) / max(1, len(people))

    students = [p for p in population.persons if F.STUDENT in p.facts]
    assert all(6 <= p.age_on(population.reference_date) <= 22 for p in students)
    assisted = [p for p in students if p.attributes.get("mca_category") in F.LOW_INCOME]
    others = [p for p in students if "mca_category" not in p.attributes]
    assert rate(F.EDUCATION_ASSISTANCE, assisted) > 0.6 > 0.1 > rate(F.EDUCATION_ASSISTANCE, others)
    everyone_assisted = [p for p in population.persons if p.attributes.get("mca_category") in F.LOW_INCOME]
    everyone_else = [p for p in population.persons if "mca_category" not in p.attributes]
    for fact in (F.DISABILITY, F.SERIOUS_ILLNESS, F.MEDICAL_ASSISTANCE, F.REGISTERED_UNEMPLOYED):
        assert rate(fact, everyone_assisted) > rate(fact, everyone_else), fact
    disabled = [p for p in population.persons if F.DISABILITY in p.facts]
    assert disabled and all(p.attributes["disability_grade"] in "1234" for p in disabled)
    categories = Counter(h.category for h in population.households)
    assert categories[""] > sum(v for k, v in categories.items() if k)  # most households have none
    assert all(categories[c] for c in F.CATEGORIES)


def test_homophone_groups_share_pinyin_and_traditional_forms_map_back():
    for group in HOMOPHONE_GROUPS:
        assert len({name_pinyin("王" + ch) for ch in group}) == 1, group
    forms = traditional_forms()
    assert forms["刘"] == "劉" and "余" not in forms
    assert all(to_simplified(trad) == simp for simp, trad in forms.items())
