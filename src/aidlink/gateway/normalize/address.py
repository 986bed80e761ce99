"""Addresses: split into province / city / county / township / village / detail; canonical form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from aidlink.gateway.normalize.characters import fold_width, strip_spaces
from aidlink.gateway.normalize.divisions import Division, DivisionTable, jiangsu_divisions
from aidlink.gateway.normalize.names import to_simplified

# Provincial-level divisions other than Jiangsu, so that their addresses keep a province level.
OTHER_PROVINCES = (
    "北京市",
    "天津市",
    "上海市",
    "重庆市",
    "河北省",
    "山西省",
    "辽宁省",
    "吉林省",
    "黑龙江省",
    "浙江省",
    "安徽省",
    "福建省",
    "江西省",
    "山东省",
    "河南省",
    "湖北省",
    "湖南省",
    "广东省",
    "海南省",
    "四川省",
    "贵州省",
    "云南省",
    "陕西省",
    "甘肃省",
    "青海省",
    "台湾省",
    "内蒙古自治区",
    "广西壮族自治区",
    "西藏自治区",
    "宁夏回族自治区",
    "新疆维吾尔自治区",
)
_MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")
_SHORT_FORMS = {
    "内蒙古自治区": "内蒙古",
    "广西壮族自治区": "广西",
    "西藏自治区": "西藏",
    "宁夏回族自治区": "宁夏",
    "新疆维吾尔自治区": "新疆",
}

_NOT_A_ROAD = r"(?!路|街|大道|巷|弄)"
_TOWNSHIP = re.compile(r"([^\d]{1,12}?)(街道办事处|街道|镇|乡)" + _NOT_A_ROAD)
_VILLAGE = re.compile(
    r"([^\d]{1,12}?)(社区居民委员会|社区居委会|村民委员会|村委会|居民委员会|居委会|社区|村)" + _NOT_A_ROAD
)
_TOWNSHIP_SUFFIX = {"街道办事处": "街道"}
_VILLAGE_SUFFIX = {
    "社区居民委员会": "社区",
    "社区居委会": "社区",
    "村民委员会": "村",
    "村委会": "村",
    "居民委员会": "居委会",
}
_OTHER_CITY = re.compile(r"(.{2,10}?(?:自治州|地区|盟|市))")
_OTHER_COUNTY = re.compile(r"(.{1,10}?(?:自治县|自治旗|区|县|市|旗))")


@dataclass(frozen=True)
class ParsedAddress:
    """Address levels found (empty string where absent) and the county's division code."""

    province: str = ""
    city: str = ""
    county: str = ""
    township: str = ""
    village: str = ""
    detail: str = ""
    division_code: str = ""

    @property
    def canonical(self) -> str:
        """Levels joined from the province down; equal for "江苏省盐城市…" and "盐城市…"."""
        return self.province + self.city + self.county + self.township + self.village + self.detail


def normalize_address(value: str) -> str:
    """Canonical form of an address (see ParsedAddress.canonical); "" for an empty value."""
    return parse_address(value).canonical


def parse_address(value: str, *, table: DivisionTable | None = None) -> ParsedAddress:
    """Parse an address; Jiangsu cities/counties resolve to official names and codes."""
    if table is None:
        return _parse_with_default_table(value)
    return _parse(value, table)


@lru_cache(maxsize=1 << 16)  # household members share an address; ParsedAddress is immutable
def _parse_with_default_table(value: str) -> ParsedAddress:
    return _parse(value, jiangsu_divisions())


def _parse(value: str, table: DivisionTable) -> ParsedAddress:
    text = to_simplified(strip_spaces(fold_width(value)))
    if not text:
        return ParsedAddress()
    other = _other_province(text)
    if other is not None:
        return _parse_other(other, text)
    rest = _strip_prefix(text, (table.province.name, table.province.short_name))
    jiangsu_named = rest != text
    city, county, rest = _jiangsu_city_county(table, rest, province_named=jiangsu_named)
    if city is None and county is None and not jiangsu_named:
        township, village, detail = _lower_levels(rest)
        return ParsedAddress(township=township, village=village, detail=detail)
    township, village, detail = _lower_levels(rest)
    return ParsedAddress(
        province=table.province.name,
        city=city.name if city else "",
        county=county.name if county else "",
        township=township,
        village=village,
        detail=detail,
        division_code=county.code if county else "",
    )


def _jiangsu_city_county(
    table: DivisionTable, text: str, *, province_named: bool
) -> tuple[Division | None, Division | None, str]:
    for city in table.cities:  # full city name, e.g. 盐城市
        if text.startswith(city.name):
            county, rest = _county_in(table.counties_of(city.code), text[len(city.name) :])
            return city, county, rest
    county, rest = _county_in(table.counties, text, full_names_only=True)
    if county is not None:  # county without city, e.g. 亭湖区…; unique within Jiangsu
        if len(table.counties_named(county.name)) == 1:
            return table.city_of(county.code), county, rest
        return None, None, text
    for city in table.cities:  # short city name, e.g. 盐城亭湖区…
        if text.startswith(city.short_name):
            after = text[len(city.short_name) :]
            county, rest = _county_in(table.counties_of(city.code), after)
            if county is not None:
                return city, county, rest
            if province_named and after[:1] not in ("区", "县", "市"):
                return city, None, after
    return None, None, text


def _county_in(counties: list[Division], text: str, *, full_names_only: bool = False) -> tuple[Division | None, str]:
    for county in counties:
        if text.startswith(county.name):
            return county, text[len(county.name) :]
    if not full_names_only:
        for county in counties:
            short = county.short_name
            if short != county.name and text.startswith(short) and text[len(short) :][:1] not in ("区", "县", "市"):
                return county, text[len(short) :]
    return None, text


def _lower_levels(text: str) -> tuple[str, str, str]:
    township = village = ""
    found = _TOWNSHIP.match(text)
    if found:
        township = found[1] + _TOWNSHIP_SUFFIX.get(found[2], found[2])
        text = text[found.end() :]
    found = _VILLAGE.match(text)
    if found:
        village = found[1] + _VILLAGE_SUFFIX.get(found[2], found[2])
        text = text[found.end() :]
    return township, village, text


def _other_province(text: str) -> str | None:
    if not text.startswith(_OTHER_PREFIXES):  # one C-level test for the usual (Jiangsu) address
        return None
    for name in OTHER_PROVINCES:
        short = _SHORT_FORMS.get(name, name[:-1])
        if text.startswith(name) or text.startswith(short):
            return name
    return None


_OTHER_PREFIXES = tuple(p for name in OTHER_PROVINCES for p in (name, _SHORT_FORMS.get(name, name[:-1])))


def _parse_other(province: str, text: str) -> ParsedAddress:
    rest = _strip_prefix(text, (province, _SHORT_FORMS.get(province, province[:-1])))
    city = ""
    if province not in _MUNICIPALITIES:
        found = _OTHER_CITY.match(rest)
        if found:
            city, rest = found[1], rest[found.end() :]
    county = ""
    found = _OTHER_COUNTY.match(rest)
    if found:
        county, rest = found[1], rest[found.end() :]
    township, village, detail = _lower_levels(rest)
    return ParsedAddress(province, city, county, township, village, detail)


def _strip_prefix(text: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text
