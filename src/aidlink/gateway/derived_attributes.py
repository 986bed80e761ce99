"""The node's implementations of the catalog's named derivation rules.

A catalog entry declares which of its attributes are derived and how, as data:
``{ name = "school_age", type = "enum", values = ["yes", "no"], derived = { from = "birth_date",
rule = "school-age" } }`` (:data:`aidlink.matcher.catalog_attributes.DERIVATION_RULES` names the
rules and what each may derive from). The node computes the value here, from the row and the
normalized person, so the source field (a birth date, a household id, an address) never leaves it:
only the derived value does (an age band, a keyed pseudonym, a county code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache

from aidlink.gateway.normalize.person import NormalizedPerson
from aidlink.gateway.pseudonyms import Pseudonyms
from aidlink.matcher.catalog_attributes import DERIVATION_RULES, AttributeType

SCHOOL_AGE = range(3, 23)  # preschool to university, the ages education assistance covers


def school_age(birth_date: str, today: date) -> str:
    """'yes'/'no' from a normalized YYYYMMDD birth date, '' when unknown."""
    if len(birth_date) != 8:
        return ""
    born = date(int(birth_date[:4]), int(birth_date[4:6]), int(birth_date[6:]))
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return "yes" if age in SCHOOL_AGE else "no"


@dataclass(frozen=True)
class DerivationInput:
    row: Mapping[str, str]
    person: NormalizedPerson
    today: date
    pseudonyms: Pseudonyms


@dataclass(frozen=True)
class DerivationRule:
    derive: Callable[[DerivationInput, str], str]  # (input, the declared source field) -> value
    # Whether a row that carries the attribute's own column keeps that value (an office that
    # records school age itself); otherwise the node always derives it.
    column_wins: bool = False


RULES: dict[str, DerivationRule] = {
    "school-age": DerivationRule(
        lambda i, source: school_age(i.person.features.get(source, ""), i.today), column_wins=True
    ),
    # the household id never travels raw: a keyed pseudonym does
    "household-pseudonym": DerivationRule(lambda i, source: i.pseudonyms.household(i.row.get(source, ""))),
    # the county of the registered address, else the ID number's region code (normalize.person)
    "division": DerivationRule(lambda i, source: i.person.division_code),
}
assert set(RULES) == set(DERIVATION_RULES), "every catalog derivation rule has a node implementation"


def derived_value(declared: AttributeType, inputs: DerivationInput) -> str:
    """The value of a derived attribute for one row."""
    rule = RULES[declared.derived_rule]
    own = inputs.row.get(declared.name, "")
    if rule.column_wins and own:
        return own
    return rule.derive(inputs, declared.derived_from)


@cache
def embedded_derivations() -> Mapping[str, AttributeType]:
    """Attribute name -> its derivation in the embedded default catalog: used where the node does
    not know the catalog entry a dataset goes under (a local encode)."""
    from aidlink.matcher.catalog import Catalog

    return {t.name: t for e in Catalog.load().entries.values() for t in e.attribute_types if t.derived_rule}
