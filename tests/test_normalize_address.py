import pytest

from aidlink.gateway.normalize.address import normalize_address, parse_address
from aidlink.gateway.normalize.divisions import jiangsu_divisions

CANONICAL = "江苏省盐城市亭湖区文峰街道毓龙社区开放大道12号"


def test_division_table_has_all_13_cities_and_yancheng_counties():
    table = jiangsu_divisions()
    assert len(table.cities) == 13
    assert all(c.code.startswith("32") and c.code.endswith("00") for c in table.cities)
    yancheng = {d.code: d.name for d in table.counties_of("320900")}
    assert yancheng == {
        "320902": "亭湖区",
        "320903": "盐都区",
        "320904": "大丰区",
        "320921": "响水县",
        "320922": "滨海县",
        "320923": "阜宁县",
        "320924": "射阳县",
        "320925": "建湖县",
        "320981": "东台市",
    }
    assert all(table.counties_of(city.code) for city in table.cities)
    assert all(table.city_of(d.code).code[:4] == d.code[:4] for d in table.counties)


@pytest.mark.parametrize(
    "value",
    [
        CANONICAL,
        "盐城市亭湖区文峰街道毓龙社区开放大道12号",
        "江苏盐城亭湖区文峰街道毓龙社区开放大道12号",
        "亭湖区文峰街道毓龙社区开放大道12号",
        "江苏省 盐城市 亭湖区 文峰街道 毓龙社区 开放大道１２号",
        "江苏省盐城市亭湖区文峰街道办事处毓龙社区居民委员会开放大道12号",
    ],
)
def test_with_or_without_province_same_canonical_form_and_code(value):
    parsed = parse_address(value)
    assert parsed.canonical == CANONICAL
    assert parsed.division_code == "320902"
    assert (parsed.province, parsed.city, parsed.county) == ("江苏省", "盐城市", "亭湖区")
    assert (parsed.township, parsed.village, parsed.detail) == ("文峰街道", "毓龙社区", "开放大道12号")


def test_county_level_city_and_village():
    parsed = parse_address("东台市富安镇丁庄村民委员会3组5号")
    assert parsed.canonical == "江苏省盐城市东台市富安镇丁庄村3组5号"
    assert parsed.division_code == "320981"
    assert parsed.village == "丁庄村"


def test_short_city_and_county_names():
    assert parse_address("江苏盐城射阳合德镇").canonical == "江苏省盐城市射阳县合德镇"


def test_same_county_name_in_two_cities_needs_the_city():
    assert parse_address("南京市鼓楼区中山路1号").division_code == "320106"
    assert parse_address("徐州市鼓楼区中山路1号").division_code == "320302"
    ambiguous = parse_address("鼓楼区中山路1号")
    assert ambiguous.division_code == ""
    assert ambiguous.canonical == "鼓楼区中山路1号"


def test_traditional_characters_in_addresses():
    parsed = parse_address("江蘇省鎮江市京口區")
    assert parsed.canonical == "江苏省镇江市京口区"
    assert parsed.division_code == "321102"


def test_road_names_are_not_mistaken_for_villages():
    parsed = parse_address("南通市通州区新村路3号")
    assert parsed.village == ""
    assert parsed.detail == "新村路3号"


def test_other_provinces_keep_their_levels_without_code():
    parsed = parse_address("浙江省杭州市西湖区北山街道")
    assert (parsed.province, parsed.city, parsed.county, parsed.township) == ("浙江省", "杭州市", "西湖区", "北山街道")
    assert parsed.division_code == ""


def test_unplaceable_and_empty_addresses():
    assert normalize_address("人民路12号") == "人民路12号"
    assert normalize_address("") == ""
    assert parse_address("   ").division_code == ""
