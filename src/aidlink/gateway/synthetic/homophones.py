"""Homophone groups of common given-name characters (same tone-less pinyin).

Clerks who take a name by ear write 王丽 as 王莉; these groups drive that corruption.
"""

from __future__ import annotations

HOMOPHONE_GROUPS: tuple[str, ...] = (
    "丽莉俐", "华桦骅", "伟玮炜", "明铭鸣", "婷亭廷", "静靖婧", "杰洁", "军君钧", "峰锋", "芳方",
    "红虹宏", "琳林霖", "燕艳雁", "涛韬", "斌彬", "磊蕾", "刚钢", "娟鹃", "勇永", "建健", "平萍",
    "英瑛", "霞侠", "梅玫", "辉晖", "鑫新欣馨", "宇雨玉", "浩昊皓", "俊骏", "思丝", "佳嘉", "怡仪宜",
    "晨辰", "文雯", "秀绣", "云芸", "凤风", "兰岚", "颖莹", "子梓紫", "涵晗", "轩萱", "宁凝", "玲龄",
    "敏闵", "强蔷", "东冬", "成诚", "龙隆", "志智", "兵冰", "凯恺", "洋阳", "春椿", "金锦", "荣蓉",
    "睿瑞", "月悦", "瑶遥", "琪琦", "慧惠", "琴芹", "飞菲", "国帼", "德得", "博搏", "然冉", "天添",
    "一依", "泽择", "桂贵", "珍真贞", "诗施", "梦孟", "妍研", "彤桐童", "晶菁", "鹏朋", "生升笙",
    "立力", "忠中", "晓小筱",
)

HOMOPHONES: dict[str, str] = {
    ch: group.replace(ch, "") for group in HOMOPHONE_GROUPS for ch in group
}
