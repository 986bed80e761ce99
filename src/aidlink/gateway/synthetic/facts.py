"""Assistance facts on synthetic persons, with rates correlated with the household's mca category."""

from __future__ import annotations

import random
from dataclasses import dataclass

# mca household categories (Art. 11): 低保, 特困, 低保边缘, 支出型困难, 临时救助; "" = none.
DIBAO, TEKUN, BIANYUAN, ZHICHU, LINSHI, NONE = "dibao", "tekun", "bianyuan", "zhichu", "linshi", ""
CATEGORIES = (DIBAO, TEKUN, BIANYUAN, ZHICHU, LINSHI)
CATEGORY_WEIGHTS = {NONE: 0.80, DIBAO: 0.07, TEKUN: 0.015, BIANYUAN: 0.04, ZHICHU: 0.02, LINSHI: 0.055}
LOW_INCOME = frozenset((DIBAO, TEKUN, BIANYUAN, ZHICHU))

# Fact names.
STUDENT = "student"
EDUCATION_ASSISTANCE = "education_assistance"
SERIOUS_ILLNESS = "serious_illness"
HIGH_MEDICAL_COST = "high_medical_cost"
MEDICAL_INSURANCE_ENROLLED = "medical_insurance_enrolled"
MEDICAL_ASSISTANCE = "medical_assistance"
REGISTERED_UNEMPLOYED = "registered_unemployed"
EMPLOYMENT_ASSISTANCE = "employment_assistance"
SOCIAL_INSURANCE_ENROLLED = "social_insurance_enrolled"
SOCIAL_INSURANCE_BENEFIT = "social_insurance_benefit"
DISABILITY = "disability"
DISASTER_AFFECTED = "disaster_affected"
FORMER_REGISTERED_POOR = "former_registered_poor"
WORKER_IN_HARDSHIP = "worker_in_hardship"
PUBLIC_RENTAL_HOUSING = "public_rental_housing"
RENT_SUBSIDY = "rent_subsidy"
RURAL_HOUSE_RENOVATION = "rural_house_renovation"
LOW_INCOME_MONITORED = "low_income_monitored"  # not assisted, but under mca monitoring (Art. 14)

HOUSEHOLD_FACTS = frozenset(
    (
        DISASTER_AFFECTED,
        FORMER_REGISTERED_POOR,
        PUBLIC_RENTAL_HOUSING,
        RENT_SUBSIDY,
        RURAL_HOUSE_RENOVATION,
        LOW_INCOME_MONITORED,
    )
)

DISABILITY_TYPES = ("visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple")
DISABILITY_TYPE_WEIGHTS = (0.14, 0.24, 0.02, 0.45, 0.07, 0.06, 0.02)
DISEASES = ("cancer", "uremia", "leukemia", "heart_disease", "stroke", "mental_illness", "hemophilia")
DISASTER_TYPES = ("flood", "typhoon", "hail", "drought", "fire")
HARDSHIP_REASONS = ("illness", "disability", "schooling", "disaster", "enterprise_difficulty")
EDUCATION_ASSISTANCE_TYPES = ("fee_waiver", "grant", "living_subsidy")


@dataclass(frozen=True)
class HouseholdContext:
    category: str
    urban: bool
    disaster_county: bool


def household_facts(rng: random.Random, ctx: HouseholdContext) -> tuple[set[str], dict[str, str]]:
    """Facts every member of the household shares (housing, disaster, former registered poor)."""
    facts: set[str] = set()
    attrs: dict[str, str] = {}
    assisted = ctx.category in LOW_INCOME
    if rng.random() < (0.06 if ctx.disaster_county else 0.003) * (2 if assisted else 1):
        facts.add(DISASTER_AFFECTED)
        attrs["disaster_type"] = rng.choice(DISASTER_TYPES)
    if not ctx.urban and rng.random() < (0.25 if assisted else 0.03 if ctx.category else 0.012):
        facts.add(FORMER_REGISTERED_POOR)
        attrs["poverty_exit_year"] = str(rng.randint(2016, 2020))
    if ctx.urban:
        if rng.random() < (0.10 if assisted else 0.005):
            facts.add(PUBLIC_RENTAL_HOUSING)
        elif rng.random() < (0.08 if assisted else 0.003):
            facts.add(RENT_SUBSIDY)
    elif rng.random() < (0.06 if assisted else 0.003):
        facts.add(RURAL_HOUSE_RENOVATION)
    return facts, attrs


def person_facts(rng: random.Random, ctx: HouseholdContext, age: int) -> tuple[set[str], dict[str, str]]:
    """Facts of one person given the household category and the person's age."""
    facts: set[str] = set()
    attrs: dict[str, str] = {}
    category = ctx.category
    assisted = category in LOW_INCOME
    lift = 3.0 if category == TEKUN else 2.0 if assisted else 1.4 if category == LINSHI else 1.0

    student = (6 <= age <= 18 and rng.random() < 0.97) or (19 <= age <= 22 and rng.random() < 0.5)
    if student:
        facts.add(STUDENT)
        attrs["school_stage"] = _school_stage(age)
        p_assist = 0.85 if assisted else 0.4 if category == LINSHI else 0.03
        if rng.random() < p_assist:
            facts.add(EDUCATION_ASSISTANCE)
            attrs["education_assistance_type"] = rng.choice(EDUCATION_ASSISTANCE_TYPES)

    p_ill = (0.01 if age < 40 else 0.03 if age < 60 else 0.06) * (6.0 if category == ZHICHU else lift)
    if rng.random() < p_ill:
        facts.add(SERIOUS_ILLNESS)
        attrs["disease"] = rng.choice(DISEASES)
    if rng.random() < (0.6 if SERIOUS_ILLNESS in facts else 0.01):
        facts.add(HIGH_MEDICAL_COST)

    if rng.random() < (0.995 if category else 0.96):
        facts.add(MEDICAL_INSURANCE_ENROLLED)
        p_med = 0.3 if assisted else 0.1 if category == LINSHI else 0.005
        if SERIOUS_ILLNESS in facts:
            p_med = max(p_med, 0.7 if category else 0.05)
        if rng.random() < p_med:
            facts.add(MEDICAL_ASSISTANCE)

    p_dis = (0.02 if age < 18 else 0.04 if age < 60 else 0.09) * (5.0 if category == TEKUN else lift)
    if rng.random() < p_dis:
        facts.add(DISABILITY)
        attrs["disability_grade"] = rng.choices("1234", (0.15, 0.25, 0.30, 0.30))[0]
        attrs["disability_type"] = rng.choices(DISABILITY_TYPES, DISABILITY_TYPE_WEIGHTS)[0]

    able_to_work = DISABILITY not in facts or attrs["disability_grade"] in ("3", "4")
    if 18 <= age <= 59 and not student and able_to_work:
        if rng.random() < (0.12 if category else 0.02):
            facts.add(REGISTERED_UNEMPLOYED)
        if rng.random() < (0.5 if REGISTERED_UNEMPLOYED in facts else 0.005 if category else 0.0):
            facts.add(EMPLOYMENT_ASSISTANCE)
        if REGISTERED_UNEMPLOYED not in facts and rng.random() < (0.08 if assisted else 0.03 if category else 0.005):
            facts.add(WORKER_IN_HARDSHIP)
            attrs["hardship_reason"] = rng.choice(HARDSHIP_REASONS)
    if age >= 16 and not student and rng.random() < (0.75 if category else 0.85):
        facts.add(SOCIAL_INSURANCE_ENROLLED)
        if age >= 60:
            facts.add(SOCIAL_INSURANCE_BENEFIT)
    return facts, attrs


def _school_stage(age: int) -> str:
    if age <= 11:
        return "primary"
    if age <= 14:
        return "junior_secondary"
    if age <= 17:
        return "senior_secondary"
    return "higher"
