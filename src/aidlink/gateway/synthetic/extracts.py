"""Department extracts: the persons each department holds (per the regulation), as raw rows."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike

from aidlink.gateway.normalize.surnames import split_surname
from aidlink.gateway.synthetic import corruption as C
from aidlink.gateway.synthetic import facts as F
from aidlink.gateway.synthetic.population import Household, Person, SyntheticPopulation

PERSON_COLUMNS = ("rec_id", "name", "id_number", "birth_date", "sex", "phone", "address")
ENCODINGS = ("utf-8", "gb18030")

Selector = Callable[[Person, Household], bool]
Columns = Callable[[Person, Household], dict[str, str]]

DEFAULT_CORRUPTION = C.CorruptionProfile.default()  # frozen: a safe shared default


def _flag(person: Person, fact: str) -> str:
    return "1" if fact in person.facts else "0"


@dataclass(frozen=True)
class DepartmentHoldings:
    """Who a department holds, which attribute columns it exports, whether it keeps household ids."""

    code: str
    selects: Selector
    columns: Columns
    attribute_columns: tuple[str, ...]
    holds_household_id: bool = False


def _mca_category(person: Person, household: Household) -> dict[str, str]:
    category = household.category or "monitored"
    dispersed = {"dispersed": "1", "centralized": "0"}.get(household.tekun_support, "")
    return {"category": category, "dispersed": dispersed}


def _hrss(person: Person, household: Household) -> dict[str, str]:
    insurance = (
        "receiving"
        if F.SOCIAL_INSURANCE_BENEFIT in person.facts
        else "enrolled"
        if F.SOCIAL_INSURANCE_ENROLLED in person.facts
        else "none"
    )
    return {
        "social_insurance": insurance,
        "registered_unemployed": _flag(person, F.REGISTERED_UNEMPLOYED),
        "employment_assistance": _flag(person, F.EMPLOYMENT_ASSISTANCE),
    }


def _any_of(*facts: str) -> Selector:
    wanted = frozenset(facts)
    return lambda person, household: bool(person.facts & wanted)


DEPARTMENTS: dict[str, DepartmentHoldings] = {
    h.code: h
    for h in (
        DepartmentHoldings(
            "mca",
            lambda p, h: bool(h.category) or F.LOW_INCOME_MONITORED in p.facts,
            _mca_category,
            ("category", "dispersed"),
            holds_household_id=True,
        ),
        DepartmentHoldings(
            "edu",
            _any_of(F.STUDENT),
            lambda p, h: {
                "school_stage": p.attributes.get("school_stage", ""),
                "assistance": _flag(p, F.EDUCATION_ASSISTANCE),
                "assistance_type": p.attributes.get("education_assistance_type", ""),
            },
            ("school_stage", "assistance", "assistance_type"),
        ),
        DepartmentHoldings(
            "hrss",
            _any_of(F.SOCIAL_INSURANCE_ENROLLED, F.REGISTERED_UNEMPLOYED, F.EMPLOYMENT_ASSISTANCE),
            _hrss,
            ("social_insurance", "registered_unemployed", "employment_assistance"),
        ),
        DepartmentHoldings(
            "housing",
            _any_of(F.PUBLIC_RENTAL_HOUSING, F.RENT_SUBSIDY, F.RURAL_HOUSE_RENOVATION),
            lambda p, h: {
                "public_rental_housing": _flag(p, F.PUBLIC_RENTAL_HOUSING),
                "rent_subsidy": _flag(p, F.RENT_SUBSIDY),
                "rural_house_renovation": _flag(p, F.RURAL_HOUSE_RENOVATION),
            },
            ("public_rental_housing", "rent_subsidy", "rural_house_renovation"),
            holds_household_id=True,
        ),
        DepartmentHoldings(
            "health",
            _any_of(F.SERIOUS_ILLNESS),
            lambda p, h: {"disease": p.attributes.get("disease", "")},
            ("disease",),
        ),
        DepartmentHoldings(
            "mem",
            _any_of(F.DISASTER_AFFECTED),
            lambda p, h: {"disaster_type": p.attributes.get("disaster_type", "")},
            ("disaster_type",),
        ),
        DepartmentHoldings(
            "nhsa",
            _any_of(F.MEDICAL_INSURANCE_ENROLLED),
            lambda p, h: {
                "serious_illness": _flag(p, F.SERIOUS_ILLNESS),
                "high_cost": _flag(p, F.HIGH_MEDICAL_COST),
                "medical_assistance": _flag(p, F.MEDICAL_ASSISTANCE),
            },
            ("serious_illness", "high_cost", "medical_assistance"),
        ),
        DepartmentHoldings(
            "rural",
            _any_of(F.FORMER_REGISTERED_POOR),
            lambda p, h: {"poverty_exit_year": p.attributes.get("poverty_exit_year", "")},
            ("poverty_exit_year",),
            holds_household_id=True,
        ),
        DepartmentHoldings(
            "union",
            _any_of(F.WORKER_IN_HARDSHIP),
            lambda p, h: {"hardship_reason": p.attributes.get("hardship_reason", "")},
            ("hardship_reason",),
        ),
        DepartmentHoldings(
            "cdpf",
            _any_of(F.DISABILITY),
            lambda p, h: {
                "disability_type": p.attributes.get("disability_type", ""),
                "disability_grade": p.attributes.get("disability_grade", ""),
            },
            ("disability_type", "disability_grade"),
        ),
    )
}


@dataclass
class Extract:
    """One department's extract: raw rows and the ground truth rec_id → person_id."""

    department: str
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    truth: dict[str, str] = field(default_factory=dict)

    def write_csv(self, path: str | PathLike[str], encoding: str = "utf-8") -> None:
        """Write the rows with a header line; ``encoding`` is "utf-8" or "gb18030"."""
        if encoding.lower() not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        with open(path, "w", encoding=encoding, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)


def department_extract(
    population: SyntheticPopulation,
    department: str,
    *,
    seed: int,
    corruption: C.CorruptionProfile | None = DEFAULT_CORRUPTION,
) -> Extract:
    """The persons ``department`` holds, in shuffled order with department-local ``rec_id``s.

    Holdings follow the facts (see DEPARTMENTS); persons from households with no mca category
    appear wherever they hold the department's facts (and in mca as "monitored" persons).
    ``corruption=None`` (or CorruptionProfile.none()) writes rows in normalized form.
    """
    try:
        holdings = DEPARTMENTS[department]
    except KeyError:
        raise ValueError(f"unknown department {department!r}; known: {', '.join(DEPARTMENTS)}") from None
    profile = corruption or C.CorruptionProfile.none()
    rng = random.Random(f"{seed}:{department}")
    held = [p for p in population.persons if holdings.selects(p, population.household(p.household_id))]
    rng.shuffle(held)
    columns = list(PERSON_COLUMNS)
    if holdings.holds_household_id:
        columns.append("household_id")
    columns.extend(holdings.attribute_columns)
    extract = Extract(department, columns)
    width = max(6, len(str(len(held))))
    prefix = department.upper()
    for index, person in enumerate(held, start=1):
        household = population.household(person.household_id)
        rec_id = f"{prefix}-{index:0{width}d}"
        row = {"rec_id": rec_id, **_person_fields(person, profile, rng)}
        if holdings.holds_household_id:
            row["household_id"] = person.household_id
        row.update(holdings.columns(person, household))
        extract.rows.append(row)
        extract.truth[rec_id] = person.person_id
    return extract


def _person_fields(person: Person, profile: C.CorruptionProfile, rng: random.Random) -> dict[str, str]:
    surname_length = len(split_surname(person.name)[0])
    id_number = C.corrupt_id(person.id_number, person.birth_date, profile, rng)
    birth_date = C.write_date(person.birth_date, profile, rng)
    if id_number and rng.random() < profile.missing_birth_date:
        birth_date = ""
    return {
        "name": C.corrupt_name(person.name, surname_length, profile, rng),
        "id_number": id_number,
        "birth_date": birth_date,
        "sex": C.write_sex(person.sex, profile, rng),
        "phone": C.corrupt_phone(person.phone, profile, rng),
        "address": C.corrupt_address(person.address, profile, rng),
    }


def clean_fields(person: Person) -> dict[str, str]:
    """A person's columns written exactly as the truth (no corruption), for measuring how many
    rows of an extract a profile corrupted."""
    return _person_fields(person, C.CorruptionProfile.none(), random.Random(0))


def linkage_pair(
    population: SyntheticPopulation,
    n: int,
    *,
    overlap: float,
    seed: int,
    corruption: C.CorruptionProfile | None = DEFAULT_CORRUPTION,
    corruption_b: C.CorruptionProfile | None = None,
) -> tuple[Extract, Extract]:
    """Two extracts "a" and "b" of ``n`` persons each, ``round(n * overlap)`` of them in both.

    Persons are drawn at random (household members and twins land on either side, as in real
    extracts); each side is corrupted independently with ``corruption`` (side b with
    ``corruption_b`` when given, e.g. the hard profile's blank IDs). Rows carry the person
    columns only. The population must hold at least ``2n - round(n * overlap)`` persons.
    """
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must be between 0 and 1, got {overlap}")
    shared = round(n * overlap)
    needed = 2 * n - shared
    if n < 0 or needed > len(population.persons):
        raise ValueError(
            f"{n} per side with overlap {overlap} needs {needed} persons; the population has {len(population.persons)}"
        )
    profile = corruption or C.CorruptionProfile.none()
    profiles = {"a": profile, "b": corruption_b or profile}
    rng = random.Random(f"{seed}:linkage-pair")
    persons = list(population.persons)
    rng.shuffle(persons)
    sides = {"a": persons[:n], "b": persons[n - shared : needed]}
    extracts = []
    for side, held in sides.items():
        held = list(held)
        rng.shuffle(held)
        extract = Extract(side, list(PERSON_COLUMNS))
        for index, person in enumerate(held, start=1):
            rec_id = f"{side.upper()}-{index:07d}"
            extract.rows.append({"rec_id": rec_id, **_person_fields(person, profiles[side], rng)})
            extract.truth[rec_id] = person.person_id
        extracts.append(extract)
    return extracts[0], extracts[1]
