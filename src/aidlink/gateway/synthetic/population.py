"""A synthetic Jiangsu population: households, persons with valid IDs, and assistance facts."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from aidlink.gateway.normalize.divisions import jiangsu_divisions
from aidlink.gateway.normalize.resident_id import check_character
from aidlink.gateway.synthetic import facts as F
from aidlink.gateway.synthetic.name_frequencies import (
    COMPOUND_SURNAME_RATE,
    COMPOUND_SURNAMES,
    FEMALE_GIVEN,
    MALE_GIVEN,
    MINORITY_FAMILY,
    MINORITY_GIVEN_FEMALE,
    MINORITY_GIVEN_MALE,
    MINORITY_RATE,
    SINGLE_CHARACTER_GIVEN_RATE,
    SURNAME_SHARES,
)
from aidlink.gateway.synthetic.places import AREA_CODES, County, build_counties, street_address

REFERENCE_DATE = date(2025, 6, 30)  # "today" of the synthetic world; fixed so a seed is reproducible
MALE, FEMALE = "1", "2"
MOBILE_PREFIXES = tuple(
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 "
    "166 177 180 181 182 183 184 185 186 187 188 189 198 199".split()
)
TWIN_RATE = 0.04
TEKUN_DISPERSED_RATE = 0.7

_HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
_SIZE_WEIGHTS = {
    F.NONE: (0.18, 0.28, 0.25, 0.17, 0.08, 0.04),
    "low_income": (0.30, 0.25, 0.20, 0.14, 0.08, 0.03),
}
_HEAD_AGE_BANDS = {
    F.NONE: ((22, 34), (35, 49), (50, 64), (65, 90)),
    "low_income": ((22, 34), (35, 49), (50, 64), (65, 95)),
    F.TEKUN: ((1, 17), (18, 59), (60, 95), (60, 95)),
}
_HEAD_AGE_WEIGHTS = {
    F.NONE: (0.22, 0.28, 0.28, 0.22),
    "low_income": (0.10, 0.20, 0.30, 0.40),
    F.TEKUN: (0.05, 0.25, 0.35, 0.35),
}


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic person; ``facts`` drive which departments hold them."""

    person_id: str
    household_id: str
    name: str
    id_number: str
    birth_date: date
    sex: str  # "1" male, "2" female
    phone: str  # "" when none
    address: str  # canonical, starting at the province
    division_code: str  # county of residence
    facts: frozenset[str]
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


@dataclass(frozen=True, slots=True)
class Household:
    """Members share the address and (often) the phone; ``category`` is the mca category or ""."""

    household_id: str
    address: str
    division_code: str
    phone: str
    category: str
    tekun_support: str  # "dispersed" / "centralized" for 特困, else ""
    member_ids: tuple[str, ...]
    facts: frozenset[str]


@dataclass
class SyntheticPopulation:
    """Persons and households generated deterministically from a seed."""

    persons: list[Person]
    households: list[Household]
    seed: int
    reference_date: date = REFERENCE_DATE
    _person_index: dict[str, Person] = field(default_factory=dict, repr=False, compare=False)
    _household_index: dict[str, Household] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def generate(
        cls,
        n_persons: int,
        *,
        seed: int,
        reference_date: date = REFERENCE_DATE,
        division_codes: Sequence[str] | None = None,
    ) -> SyntheticPopulation:
        """Generate exactly ``n_persons`` persons; same seed and arguments → same population.

        ``division_codes`` restricts residence to some Jiangsu counties (default: all 95).
        """
        if n_persons < 0:
            raise ValueError(f"n_persons must be >= 0, got {n_persons}")
        builder = _Builder(random.Random(seed), reference_date, list(division_codes) if division_codes else None)
        persons, households = builder.build(n_persons)
        return cls(persons, households, seed, reference_date)

    def person(self, person_id: str) -> Person:
        if not self._person_index:
            self._person_index.update((p.person_id, p) for p in self.persons)
        return self._person_index[person_id]

    def household(self, household_id: str) -> Household:
        if not self._household_index:
            self._household_index.update((h.household_id, h) for h in self.households)
        return self._household_index[household_id]


@dataclass
class _Member:
    age: int
    sex: str
    surname: str
    father_given: str = ""
    twin_of: _Member | None = None
    given: str = ""
    birth: date | None = None


class _Builder:
    def __init__(self, rng: random.Random, today: date, codes: list[str] | None) -> None:
        self.rng = rng
        self.today = today
        self.table = jiangsu_divisions()
        self.counties: list[County] = build_counties(self.table, rng, codes)
        self.all_county_codes = [d.code for d in self.table.counties]
        self.disaster_counties = {c.division.code for c in rng.sample(self.counties, min(3, len(self.counties)))}
        self.surnames = list(SURNAME_SHARES)
        self.surname_cum = list(itertools.accumulate(SURNAME_SHARES.values()))
        self.given = {MALE: MALE_GIVEN, FEMALE: FEMALE_GIVEN}
        self.given_cum = {
            sex: list(itertools.accumulate(1.0 / rank**0.7 for rank in range(1, len(chars) + 1)))
            for sex, chars in self.given.items()
        }
        self.categories = list(F.CATEGORY_WEIGHTS)
        self.category_cum = list(itertools.accumulate(F.CATEGORY_WEIGHTS.values()))
        self.used_ids: set[str] = set()

    # -- households -------------------------------------------------------------------
    def build(self, n_persons: int) -> tuple[list[Person], list[Household]]:
        persons: list[Person] = []
        households: list[Household] = []
        rng = self.rng
        while len(persons) < n_persons:
            category = self._pick(self.categories, self.category_cum)
            members = self._compose(category)[: n_persons - len(persons)]
            household_id = f"H{len(households) + 1:07d}"
            county = rng.choice(self.counties)
            tekun_support = ""
            if category == F.TEKUN:
                tekun_support = "dispersed" if rng.random() < TEKUN_DISPERSED_RATE else "centralized"
            if tekun_support == "centralized":
                township = rng.choice(county.townships)
                address = county.prefix + township.name + "敬老院"
            else:
                address = street_address(county, rng)
            phone = self._household_phone(county) if rng.random() < 0.92 else ""
            ctx = F.HouseholdContext(
                category, county.division.name.endswith("区"), county.division.code in self.disaster_counties
            )
            h_facts, h_attrs = F.household_facts(rng, ctx)
            drafts = []
            for member in members:
                self._birth_and_name(member)
                age = _age(member.birth, self.today)  # type: ignore[arg-type]
                p_facts, p_attrs = F.person_facts(rng, ctx, age)
                drafts.append((member, age, p_facts, p_attrs))
            if not category and self._monitored(drafts, h_facts):
                h_facts.add(F.LOW_INCOME_MONITORED)
            member_ids = []
            for member, age, p_facts, p_attrs in drafts:
                person_id = f"P{len(persons) + 1:08d}"
                member_ids.append(person_id)
                attrs = {**h_attrs, **p_attrs}
                if category:
                    attrs["mca_category"] = category
                if tekun_support:
                    attrs["tekun_support"] = tekun_support
                persons.append(
                    Person(
                        person_id=person_id,
                        household_id=household_id,
                        name=member.surname + member.given,
                        id_number=self._id_number(member, county),
                        birth_date=member.birth,  # type: ignore[arg-type]
                        sex=member.sex,
                        phone=self._person_phone(age, phone),
                        address=address,
                        division_code=county.division.code,
                        facts=frozenset(p_facts | h_facts),
                        attributes=attrs,
                    )
                )
            households.append(
                Household(
                    household_id,
                    address,
                    county.division.code,
                    phone,
                    category,
                    tekun_support,
                    tuple(member_ids),
                    frozenset(h_facts),
                )
            )
        return persons, households

    def _monitored(self, drafts: list, h_facts: set[str]) -> bool:
        risky = F.DISASTER_AFFECTED in h_facts or any(
            facts & {F.SERIOUS_ILLNESS, F.REGISTERED_UNEMPLOYED} or attrs.get("disability_grade") in ("1", "2")
            for _, _, facts, attrs in drafts
        )
        return risky and self.rng.random() < 0.15

    def _compose(self, category: str) -> list[_Member]:
        rng = self.rng
        group = category if category in (F.NONE, F.TEKUN) else "low_income"
        size = 1 if category == F.TEKUN else rng.choices(_HOUSEHOLD_SIZES, _SIZE_WEIGHTS[group])[0]
        low, high = rng.choices(_HEAD_AGE_BANDS[group], _HEAD_AGE_WEIGHTS[group])[0]
        head_age = rng.randint(low, high)
        minority = rng.random() < MINORITY_RATE
        if size == 1:
            sex = FEMALE if (head_age >= 65 and rng.random() < 0.6) or rng.random() < 0.4 else MALE
            return [self._member(head_age, sex, minority)]
        if size >= 3 and head_age < 25:
            head_age = rng.randint(28, 45)
        husband = self._member(head_age, MALE, minority)
        wife = self._member(max(18, head_age + rng.randint(-5, 3)), FEMALE, minority)
        if size == 2:
            if head_age >= 50 and rng.random() < 0.75 or head_age < 50 and rng.random() < 0.4:
                return [husband, wife]
            parent = husband if rng.random() < 0.4 else wife
            return [parent, self._child(parent, husband, rng.choice((MALE, FEMALE)), minority)]
        if head_age >= 60 and size >= 4:  # three generations: grandparents, son, daughter-in-law, grandchildren
            son = self._child(wife, husband, MALE, minority, min_gap=24)
            son_wife = self._member(max(18, son.age + rng.randint(-4, 2)), FEMALE, minority)
            return [husband, wife, son, son_wife] + self._children(son_wife, son, size - 4, minority)
        return [husband, wife] + self._children(wife, husband, size - 2, minority)

    def _children(self, mother: _Member, father: _Member, count: int, minority: bool) -> list[_Member]:
        """Siblings, eldest first, born 1–6 years apart (twins: same birth date)."""
        rng = self.rng
        kids: list[_Member] = []
        for _ in range(count):
            if kids and rng.random() < TWIN_RATE and kids[-1].twin_of is None:
                eldest = kids[-1]
                kids.append(
                    _Member(eldest.age, rng.choice((MALE, FEMALE)), eldest.surname, eldest.father_given, twin_of=eldest)
                )
                continue
            kid = self._child(mother, father, rng.choice((MALE, FEMALE)), minority)
            if kids:
                kid.age = kids[-1].age - rng.randint(1, 6)
            kids.append(kid)
        shortfall = -min(kid.age for kid in kids) if kids else 0
        if shortfall > 0:  # a late-born sibling came out negative: make the whole family older
            for kid in kids:
                kid.age += shortfall
        return kids

    def _child(self, mother: _Member, father: _Member, sex: str, minority: bool, min_gap: int = 20) -> _Member:
        age = max(0, mother.age - self.rng.randint(min_gap, 38))
        surname = father.surname if self.rng.random() < 0.92 else mother.surname
        if minority:
            return _Member(age, sex, "", father_given=father.given or self._minority_given(MALE))
        return _Member(age, sex, surname)

    def _member(self, age: int, sex: str, minority: bool) -> _Member:
        if minority:
            given = self._minority_given(sex)
            return _Member(age, sex, "", father_given=self.rng.choice(MINORITY_FAMILY), given=given)
        if self.rng.random() < COMPOUND_SURNAME_RATE:
            return _Member(age, sex, self.rng.choice(COMPOUND_SURNAMES))
        return _Member(age, sex, self._pick(self.surnames, self.surname_cum))

    # -- names, dates, ids, phones ----------------------------------------------------
    def _birth_and_name(self, member: _Member) -> None:
        rng = self.rng
        if member.twin_of is not None:
            member.birth = member.twin_of.birth
        else:
            member.birth = self.today - timedelta(days=member.age * 365 + member.age // 4 + rng.randint(0, 364))
        if member.father_given:  # minority name: given·father's given name
            if not member.given:
                member.given = self._minority_given(member.sex)
            member.given = member.given.split("·")[0] + "·" + member.father_given
            return
        if member.twin_of is not None and member.twin_of.given:
            first = member.twin_of.given
            member.given = (
                first[0] + self._given_char(member.sex, avoid=first)
                if len(first) == 2
                else self._given_char(member.sex, avoid=first)
            )
            return
        assert member.birth is not None  # set above
        single = rng.random() < (0.45 if member.birth.year < 1980 else SINGLE_CHARACTER_GIVEN_RATE / 2)
        first = self._given_char(member.sex)
        member.given = first if single else first + self._given_char(member.sex, avoid=first)

    def _given_char(self, sex: str, avoid: str = "") -> str:
        while True:
            ch = self._pick(self.given[sex], self.given_cum[sex])
            if ch not in avoid:
                return ch

    def _minority_given(self, sex: str) -> str:
        return self.rng.choice(MINORITY_GIVEN_MALE if sex == MALE else MINORITY_GIVEN_FEMALE)

    def _id_number(self, member: _Member, county: County) -> str:
        rng = self.rng
        birth_code = county.division.code if rng.random() < 0.85 else rng.choice(self.all_county_codes)
        parity_digits = "13579" if member.sex == MALE else "02468"
        birth = member.birth
        stem = f"{birth_code}{birth.year:04d}{birth.month:02d}{birth.day:02d}"  # type: ignore[union-attr]
        while True:
            first17 = f"{stem}{int(rng.random() * 100):02d}{parity_digits[int(rng.random() * 5)]}"
            number = first17 + check_character(first17)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def _household_phone(self, county: County) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            return AREA_CODES[county.city.code] + str(rng.randint(2, 9)) + f"{rng.randrange(10**7):07d}"
        return self._mobile()

    def _mobile(self) -> str:
        rand = self.rng.random
        return MOBILE_PREFIXES[int(rand() * len(MOBILE_PREFIXES))] + f"{int(rand() * 10**8):08d}"

    def _person_phone(self, age: int, household_phone: str) -> str:
        rng = self.rng
        if age < 16:
            return household_phone if rng.random() < 0.6 else ""
        own_rate = 0.65 if age <= 70 else 0.3
        return self._mobile() if rng.random() < own_rate else household_phone

    def _pick(self, items: list[str] | tuple[str, ...], cumulative: list[float]) -> str:
        return items[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
