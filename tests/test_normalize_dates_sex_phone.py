from datetime import date

import pytest

from aidlink.gateway.normalize.dates import normalize_date, parse_date
from aidlink.gateway.normalize.issues import InvalidField
from aidlink.gateway.normalize.phone import normalize_phone
from aidlink.gateway.normalize.sex import normalize_sex

TODAY = date(2025, 6, 30)


@pytest.mark.parametrize(
    "value",
    [
        "19850307",
        "1985-03-07",
        "1985-3-7",
        "1985/3/7",
        "1985/03/07",
        "1985.3.7",
        "1985年3月7日",
        "1985年03月07日",
        "１９８５年３月７日",
        "１９８５０３０７",
        " 1985-03-07 ",
        "1985-03-07 00:00:00",
        "1985/3/7 0:00",
        "1985-03-07T00:00:00",
    ],
)
def test_each_date_form_normalizes(value):
    assert normalize_date(value, today=TODAY) == "19850307"


def test_midnight_time_is_dropped_but_the_day_is_kept():
    assert normalize_date("1985-03-10 0:00", today=TODAY) == "19850310"
    with pytest.raises(InvalidField):
        normalize_date("1985-03-07 13:00:00", today=TODAY)


def test_parse_date_returns_a_date():
    assert parse_date("2000/2/29", today=TODAY) == date(2000, 2, 29)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("19850230", "impossible date: 1985-02-30 does not exist"),
        ("1900-02-29", "does not exist"),
        ("2025-07-01", "in the future"),
        ("1850-01-01", "before 1900"),
        ("85-3-7", "not a recognised date"),
        ("1985-3/7", "not a recognised date"),
        ("", "is empty"),
    ],
)
def test_bad_dates_rejected_with_reason(value, reason):
    with pytest.raises(InvalidField) as caught:
        normalize_date(value, today=TODAY)
    assert caught.value.issue.field == "birth_date"
    assert reason in caught.value.issue.reason


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("男", "1"),
        ("女", "2"),
        ("M", "1"),
        ("f", "2"),
        ("male", "1"),
        ("Female", "2"),
        ("1", "1"),
        ("2", "2"),
        ("0", ""),
        ("9", ""),
        ("未知", ""),
        ("未说明", ""),
        ("", ""),
        ("１", "1"),
        (" 男 ", "1"),
        ("男性", "1"),
    ],
)
def test_sex_codes(value, code):
    assert normalize_sex(value) == code


def test_unrecognised_sex_rejected():
    with pytest.raises(InvalidField, match="not a recognised sex code"):
        normalize_sex("3")


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0086-138-1234-5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("0515-88123456", "051588123456"),
        ("(025) 8765 4321", "02587654321"),
        ("+86 515 8812 3456", "051588123456"),
        ("", ""),
    ],
)
def test_phones(value, digits):
    assert normalize_phone(value) == digits


@pytest.mark.parametrize("value", ["12345", "1381234567", "138123456789", "abc", "电话13812345678", "23812345678"])
def test_garbage_phones_rejected(value):
    with pytest.raises(InvalidField) as caught:
        normalize_phone(value)
    assert caught.value.issue.field == "phone"
    assert caught.value.issue.value == value
