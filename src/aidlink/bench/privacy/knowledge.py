"""The attacker's public knowledge, drawn from a population of a *different* seed.

What anyone can know without the linkage secret: the linkage schema (it is shipped), how names,
pinyin and resident ID numbers are written (GB 11643: 6-digit division code, YYYYMMDD, 3-digit
sequence whose last digit is odd for men, check character), the division codes, and the
frequency tables of surnames, full names, given-name characters and birth dates. The tables are
counted on a population generated from ``aux_seed``, which never shares a person with the view.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from aidlink.gateway.blocking import blocking_values
from aidlink.gateway.normalize.person import NormalizedPerson, normalize_person
from aidlink.gateway.normalize.surnames import split_surname
from aidlink.gateway.synthetic import SyntheticPopulation
from aidlink.gateway.synthetic.population import REFERENCE_DATE, Person


def plain_row(person: Person) -> dict[str, str]:
    """A person as a clean extract row (what a public register would hold)."""
    return {
        "name": person.name,
        "id_number": person.id_number,
        "birth_date": person.birth_date.strftime("%Y%m%d"),
        "sex": person.sex,
        "phone": person.phone,
        "address": person.address,
    }


def normalized(person: Person) -> NormalizedPerson:
    """A person normalized exactly as a node would (public code)."""
    return normalize_person(plain_row(person), today=REFERENCE_DATE)


@dataclass(frozen=True)
class PublicKnowledge:
    """Frequency tables and plaintext records of an auxiliary population."""

    persons: tuple[Person, ...]
    features: tuple[dict[str, str], ...]  # normalized encoder inputs, one per aux person
    token_values: tuple[tuple[str, ...], ...]  # the labelled plaintext of each person's blocking tokens
    surnames: Counter[str]
    names: Counter[str]
    given_characters: Counter[str]  # records containing the character in the given name
    name_characters: Counter[str]  # records containing the character anywhere in the name
    birth_dates: Counter[str]
    birth_years: Counter[str]
    pinyin_names: dict[str, str]  # pinyin of a full name -> its most frequent written form

    @property
    def size(self) -> int:
        return len(self.persons)

    def attribute_tables(self) -> dict[str, Counter[str]]:
        """The public frequency table of each re-identified attribute (for the chance baselines)."""
        return {
            "surname": self.surnames,
            "name": self.names,
            "birth_date": Counter(p.birth_date.strftime("%Y%m%d") for p in self.persons),
            "id_number": Counter(p.id_number for p in self.persons),
        }

    @classmethod
    def from_population(cls, population: SyntheticPopulation) -> PublicKnowledge:
        persons = tuple(population.persons)
        people = [normalized(p) for p in persons]
        features = tuple(p.features for p in people)
        token_values = tuple(tuple(blocking_values(p)) for p in people)
        surnames: Counter[str] = Counter()
        names: Counter[str] = Counter()
        given: Counter[str] = Counter()
        chars: Counter[str] = Counter()
        births: Counter[str] = Counter()
        by_pinyin: dict[str, Counter[str]] = {}
        for person, feats in zip(persons, features, strict=True):
            surname, given_name = split_surname(person.name)
            surnames[surname] += 1
            names[person.name] += 1
            given.update(set(given_name))
            chars.update(set(person.name))
            births[feats["birth_date"]] += 1
            by_pinyin.setdefault(feats["name_pinyin"], Counter())[person.name] += 1
        years: Counter[str] = Counter()
        for date, count in births.items():
            years[date[:4]] += count
        pinyin_names = {py: c.most_common(1)[0][0] for py, c in by_pinyin.items()}
        return cls(persons, features, token_values, surnames, names, given, chars, births, years, pinyin_names)

    @classmethod
    def generate(cls, size: int, *, aux_seed: int) -> PublicKnowledge:
        return cls.from_population(SyntheticPopulation.generate(size, seed=aux_seed))
