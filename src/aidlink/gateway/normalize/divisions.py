"""Jiangsu administrative divisions (GB/T 2260 codes) loaded from data/jiangsu_divisions.csv."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DATA_FILE = "jiangsu_divisions.csv"
PROVINCE_CODE = "320000"


@dataclass(frozen=True)
class Division:
    """One division: 6-digit code, official name, level (province/city/county), parent code."""

    code: str
    name: str
    level: str
    parent_code: str

    @property
    def short_name(self) -> str:
        """Name without its level suffix (盐城市→盐城, 亭湖区→亭湖); 2+ characters only."""
        for suffix in ("自治县", "省", "市", "区", "县"):
            if self.name.endswith(suffix) and len(self.name) - len(suffix) >= 2:
                return self.name[: -len(suffix)]
        return self.name


class DivisionTable:
    """Lookups over the province, its prefecture-level cities and county-level divisions."""

    def __init__(self, divisions: list[Division]) -> None:
        self.by_code = {d.code: d for d in divisions}
        self.province = self.by_code[PROVINCE_CODE]
        self.cities = [d for d in divisions if d.level == "city"]
        self.counties = [d for d in divisions if d.level == "county"]
        self._children: dict[str, list[Division]] = {}
        for d in divisions:
            self._children.setdefault(d.parent_code, []).append(d)
        self._counties_by_name: dict[str, list[Division]] = {}
        for d in self.counties:
            self._counties_by_name.setdefault(d.name, []).append(d)

    def counties_of(self, city_code: str) -> list[Division]:
        return [d for d in self._children.get(city_code, []) if d.level == "county"]

    def city_of(self, county_code: str) -> Division:
        return self.by_code[self.by_code[county_code].parent_code]

    def counties_named(self, name: str) -> list[Division]:
        """County-level divisions with this full name (鼓楼区 exists in Nanjing and Xuzhou)."""
        return list(self._counties_by_name.get(name, []))


def load_divisions(text: str) -> DivisionTable:
    rows = csv.DictReader(io.StringIO(text))
    return DivisionTable([Division(r["code"], r["name"], r["level"], r["parent_code"]) for r in rows])


@lru_cache(maxsize=1)
def jiangsu_divisions() -> DivisionTable:
    """The shipped Jiangsu table (13 cities, 95 county-level divisions)."""
    text = resources.files("aidlink.gateway.normalize.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return load_divisions(text)
