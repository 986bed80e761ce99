"""Department codes, administrative levels and division codes that name a gateway node."""

from __future__ import annotations

import re

#: Department code -> name (Art. 2 of the Jiangsu measures; see regulation/REQUIREMENTS.md).
DEPARTMENTS: dict[str, str] = {
    "mca": "civil affairs 民政",
    "edu": "education 教育",
    "hrss": "human resources & social security 人社",
    "housing": "housing & urban-rural development 住建",
    "health": "health 卫健",
    "mem": "emergency management 应急",
    "nhsa": "medical insurance 医保",
    "rural": "rural revitalization 乡村振兴",
    "union": "trade union 工会",
    "cdpf": "disabled persons' federation 残联",
}

#: Administrative levels a node can serve, from the top down.
LEVELS: tuple[str, ...] = ("province", "city", "county")

# First two digits of GB/T 2260 division codes for provincial-level divisions.
_PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
_DIVISION_CODE = re.compile(r"[0-9]{6}")


def check_department(department: str) -> str:
    """Return ``department`` if it is a known department code, else raise ``ValueError``."""
    if department not in DEPARTMENTS:
        known = ", ".join(DEPARTMENTS)
        raise ValueError(f"unknown department {department!r}; expected one of: {known}")
    return department


def check_division(level: str, division_code: str) -> tuple[str, str]:
    """Validate a (level, 6-digit division code) pair and return it.

    The level must agree with the code's shape (GB/T 2260): a province ends in ``0000``
    (320000 Jiangsu), a city in ``00`` (320900 Yancheng), a county in neither (320902 Tinghu).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of: {', '.join(LEVELS)}")
    if not isinstance(division_code, str) or not _DIVISION_CODE.fullmatch(division_code):
        raise ValueError(
            f"division code {division_code!r} is not 6 digits (e.g. 320000 Jiangsu province, 320900 Yancheng city)"
        )
    if division_code[:2] not in _PROVINCE_PREFIXES:
        raise ValueError(f"division code {division_code!r} does not start with a provincial code (e.g. 32 Jiangsu)")
    expected = _level_of(division_code)
    if expected != level:
        raise ValueError(f"division code {division_code!r} is a {expected}-level code, but level {level!r} was given")
    return level, division_code


def _level_of(division_code: str) -> str:
    if division_code.endswith("0000"):
        return "province"
    if division_code.endswith("00"):
        return "city"
    return "county"
