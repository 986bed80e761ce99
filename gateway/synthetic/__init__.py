"""Synthetic population and department extracts for the demo, tests and benchmarks."""

from gateway.synthetic.corruption import CorruptionProfile
from gateway.synthetic.extracts import DEPARTMENTS, Extract, department_extract, linkage_pair
from gateway.synthetic.population import Household, Person, SyntheticPopulation

__all__ = ["DEPARTMENTS", "CorruptionProfile", "Extract", "Household", "Person", "SyntheticPopulation",
           "department_extract", "linkage_pair"]
