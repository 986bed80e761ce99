"""Synthetic population and department extracts for the demo, tests and benchmarks."""

from aidlink.gateway.synthetic.corruption import CorruptionProfile
from aidlink.gateway.synthetic.extracts import DEPARTMENTS, Extract, department_extract, linkage_pair
from aidlink.gateway.synthetic.population import Household, Person, SyntheticPopulation

__all__ = [
    "DEPARTMENTS",
    "CorruptionProfile",
    "Extract",
    "Household",
    "Person",
    "SyntheticPopulation",
    "department_extract",
    "linkage_pair",
]
