"""Surname readings: heteronymous characters read differently as a surname."""

from __future__ import annotations

# Two-character (compound) surnames with their readings. 单于 is left out on purpose:
# it is far rarer than 单 + a given name starting with 于, so 单于敏 reads "shan yu min".
COMPOUND_SURNAMES: dict[str, str] = {
    "欧阳": "ou yang",
    "司马": "si ma",
    "诸葛": "zhu ge",
    "上官": "shang guan",
    "东方": "dong fang",
    "皇甫": "huang fu",
    "尉迟": "yu chi",
    "公孙": "gong sun",
    "慕容": "mu rong",
    "令狐": "ling hu",
    "夏侯": "xia hou",
    "长孙": "zhang sun",
    "宇文": "yu wen",
    "司徒": "si tu",
    "端木": "duan mu",
    "万俟": "mo qi",
    "澹台": "tan tai",
    "闻人": "wen ren",
    "独孤": "du gu",
    "南宫": "nan gong",
    "西门": "xi men",
    "呼延": "hu yan",
    "淳于": "chun yu",
    "申屠": "shen tu",
    "轩辕": "xuan yuan",
    "钟离": "zhong li",
    "公冶": "gong ye",
    "濮阳": "pu yang",
}

# Single-character surnames whose surname reading differs from (or is easily confused
# with) the everyday reading pypinyin picks; pypinyin 0.55 has no surname mode.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "区": "ou",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "覃": "qin",
    "盖": "ge",
    "缪": "miao",
    "翟": "zhai",
    "乐": "yue",
    "种": "chong",
    "召": "shao",
    "繁": "po",
    "员": "yun",
    "折": "she",
    "宓": "fu",
    "隗": "wei",
    "秘": "bi",
    "句": "gou",
    "祭": "zhai",
    "都": "du",
    "说": "yue",
    "阚": "kan",
    "能": "nai",
    "教": "jiao",
    "藏": "zang",
    "尉": "wei",
    "柏": "bai",
    "沈": "shen",
    "任": "ren",
    "薄": "bo",
    "长": "chang",
    "重": "chong",
    "洗": "xian",
    "冼": "xian",
    "眭": "sui",
    "粘": "nian",
    "燕": "yan",
    "纪": "ji",
    "过": "guo",
    "华": "hua",
    "万": "wan",
    "曲": "qu",
    "那": "na",
    "朝": "chao",
    "牟": "mou",
}


def split_surname(name: str) -> tuple[str, str]:
    """Split a Han name into (surname, given name); compound surnames are recognised."""
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


def surname_reading(surname: str) -> str | None:
    """Tone-less reading of a known surname, or None to let pypinyin decide."""
    return COMPOUND_SURNAMES.get(surname) or SURNAME_READINGS.get(surname)
