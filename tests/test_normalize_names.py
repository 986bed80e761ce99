import pytest

from aidlink.gateway.normalize.issues import InvalidField
from aidlink.gateway.normalize.names import SEPARATOR, name_pinyin, normalize_name, to_simplified, unify_separators


def test_spaces_removed_and_full_width_folded():
    assert normalize_name(" 王　丽 ") == "王丽"
    assert normalize_name("ＭＡＲＹ") == "MARY"


def test_traditional_characters_become_simplified():
    assert normalize_name("劉德華") == "刘德华"
    assert normalize_name("張麗") == "张丽"
    assert to_simplified("陳偉") == "陈伟"


@pytest.mark.parametrize(
    "separator", ["\u00b7", "\u30fb", "\u2022", ".", "\uff0e", "\u3002", "\u2027", "\uff65", "\u2219", "\u22c5"]
)
def test_minority_name_separators_are_unified(separator):
    assert normalize_name(f"阿依古丽{separator}买买提") == f"阿依古丽{SEPARATOR}买买提"


def test_separator_runs_and_edges_are_cleaned():
    assert unify_separators("·艾力··吐尔逊·") == "艾力·吐尔逊"
    assert normalize_name("艾力 · 吐尔逊") == "艾力·吐尔逊"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("·", "is empty"),
        ("王丽2", "contains digits (2)"),
        ("王丽２", "contains digits (2)"),
        ("王@丽", "'@'"),
    ],
)
def test_rejections(value, reason):
    with pytest.raises(InvalidField) as caught:
        normalize_name(value)
    assert caught.value.issue.field == "name"
    assert caught.value.issue.value == value
    assert reason in caught.value.issue.reason


def test_pinyin_is_toneless_and_space_joined():
    assert name_pinyin("张伟") == "zhang wei"
    assert name_pinyin("王丽") == name_pinyin("王莉") == "wang li"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("单田芳", "shan tian fang"),
        ("曾国藩", "zeng guo fan"),
        ("区志明", "ou zhi ming"),
        ("解缙", "xie jin"),
        ("仇英", "qiu ying"),
        ("查良镛", "zha liang yong"),
        ("翟天临", "zhai tian lin"),
        ("缪斯", "miao si"),
        ("尉迟恭", "yu chi gong"),
        ("万俟卨", "mo qi xie"),
        ("欧阳修", "ou yang xiu"),
    ],
)
def test_surname_readings(name, expected):
    assert name_pinyin(name) == expected


def test_pinyin_of_minority_and_latin_names():
    assert name_pinyin("阿依古丽·买买提") == "a yi gu li mai mai ti"
    assert name_pinyin("MARY") == "mary"
    assert name_pinyin("") == ""
