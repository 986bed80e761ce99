"""Synthetic townships, villages and street addresses inside real Jiangsu counties."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aidlink.gateway.normalize.divisions import Division, DivisionTable

# Characters for made-up place names; none of 镇乡街道村社区市县省路 so names never look like
# a level suffix to the address parser.
PLACE_CHARACTERS = (
    "新兴安华丰永和平东西南北河桥港湖塘庄集沟洋泰福宁长阳洪民胜建红光明中大小金龙凤双石田林"
    "花沙白马陈王张李吴高三五八合顺丁施严唐仓海荡圩墩潭坝滩桑杨柳梅竹松德利昌盛富裕康乐"
)
ROAD_KINDS = ("路", "路", "路", "街", "大道")

# Telephone area codes of Jiangsu's prefecture-level cities.
AREA_CODES = {
    "320100": "025",
    "320200": "0510",
    "320300": "0516",
    "320400": "0519",
    "320500": "0512",
    "320600": "0513",
    "320700": "0518",
    "320800": "0517",
    "320900": "0515",
    "321000": "0514",
    "321100": "0511",
    "321200": "0523",
    "321300": "0527",
}


@dataclass(frozen=True)
class Township:
    name: str
    villages: tuple[str, ...]


@dataclass(frozen=True)
class County:
    division: Division
    city: Division
    townships: tuple[Township, ...]

    @property
    def prefix(self) -> str:
        """Address prefix down to the county: 江苏省盐城市亭湖区."""
        return "江苏省" + self.city.name + self.division.name


def build_counties(table: DivisionTable, rng: random.Random, codes: list[str] | None = None) -> list[County]:
    """Made-up townships (6–12) and villages/communities (5–15 each) for each county."""
    chosen = [table.by_code[c] for c in codes] if codes else table.counties
    counties = []
    for division in chosen:
        urban = division.name.endswith("区")
        used: set[str] = set()
        townships = []
        for _ in range(rng.randint(6, 12)):
            if urban:
                suffix = "街道" if rng.random() < 0.8 else "镇"
            else:
                suffix = rng.choices(("镇", "乡", "街道"), (0.85, 0.05, 0.10))[0]
            name = _unique_name(rng, used) + suffix
            village_suffix = "社区" if suffix == "街道" else "村"
            villages = tuple(
                _unique_name(rng, used)
                + (village_suffix if rng.random() < 0.9 else ("村" if village_suffix == "社区" else "社区"))
                for _ in range(rng.randint(5, 15))
            )
            townships.append(Township(name, villages))
        counties.append(County(division, table.city_of(division.code), tuple(townships)))
    return counties


def street_address(county: County, rng: random.Random) -> str:
    """A full canonical address: province, city, county, township, village, detail."""
    township = rng.choice(county.townships)
    village = rng.choice(township.villages)
    if village.endswith("村"):
        detail = f"{rng.randint(1, 15)}组{rng.randint(1, 60)}号"
    else:
        road = rng.choice(PLACE_CHARACTERS) + rng.choice(PLACE_CHARACTERS) + rng.choice(ROAD_KINDS)
        detail = f"{road}{rng.randint(1, 300)}号{rng.randint(1, 30)}幢{rng.randint(1, 6)}0{rng.randint(1, 4)}室"
    return county.prefix + township.name + village + detail


def _unique_name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = rng.choice(PLACE_CHARACTERS) + rng.choice(PLACE_CHARACTERS)
        if name not in used:
            used.add(name)
            return name
