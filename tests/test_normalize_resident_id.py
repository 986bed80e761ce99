from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aidlink.gateway.normalize.issues import InvalidField
from aidlink.gateway.normalize.resident_id import check_character, normalize_resident_id, upgrade_legacy

TODAY = date(2025, 6, 30)


def test_check_character_matches_the_standards_examples():
    # GB 11643-1999 examples: 11010519491231002X and 440524188001010014
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"


def test_valid_id_yields_birth_date_sex_and_division():
    rid = normalize_resident_id("11010519491231002X", today=TODAY)
    assert rid.number == "11010519491231002X"
    assert rid.birth_date == date(1949, 12, 31)
    assert rid.birth_date_text == "19491231"
    assert rid.sex == "2"  # 17th digit 2 is even → female
    assert rid.division_code == "110105"
    assert not rid.upgraded_from_legacy


def test_odd_seventeenth_digit_is_male():
    first17 = "32090219850307123"
    rid = normalize_resident_id(first17 + check_character(first17), today=TODAY)
    assert rid.sex == "1"


def test_lowercase_x_fullwidth_digits_and_spaces_are_cleaned():
    rid = normalize_resident_id(" １１０１０５ 1949 1231 002x ", today=TODAY)
    assert rid.number == "11010519491231002X"


def test_legacy_15_digit_id_is_upgraded():
    # 15-digit 320902850307123 → insert "19" → 32090219850307123 + check character
    first17 = "32090219850307123"
    expected = first17 + check_character(first17)
    assert upgrade_legacy("320902850307123") == expected
    rid = normalize_resident_id("320902850307123", today=TODAY)
    assert rid.number == expected
    assert rid.upgraded_from_legacy
    assert rid.birth_date == date(1985, 3, 7)
    assert rid.sex == "1"


def test_legacy_upgrade_of_the_standard_example():
    assert upgrade_legacy("110105491231002") == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1101051949123100", "wrong length: 16"),
        ("11010519491231002X1", "wrong length: 19"),
        ("", "is empty"),
        ("1101051949A231002X", "non-digit character 'A'"),
        ("11010519491231002Y", "neither a digit nor X"),
        ("110105194912310021", "bad check character: expected X, got 1"),
        ("110105499912310", "impossible birth date"),
    ],
)
def test_rejections_name_the_reason(value, reason):
    with pytest.raises(InvalidField) as caught:
        normalize_resident_id(value, today=TODAY)
    assert caught.value.issue.field == "id_number"
    assert caught.value.issue.value == value
    assert reason in caught.value.issue.reason


def test_impossible_birth_dates_are_rejected():
    for stem in ("32090219850230123", "32090218991231123", "32090220300101123"):
        number = stem + check_character(stem)
        with pytest.raises(InvalidField, match="impossible birth date"):
            normalize_resident_id(number, today=TODAY)


def test_transposed_digits_are_caught_by_the_check_character():
    good = "11010519491231002X"
    swapped = good[:7] + good[8] + good[7] + good[9:]
    with pytest.raises(InvalidField, match="bad check character"):
        normalize_resident_id(swapped, today=TODAY)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
    st.sampled_from(["320902", "320981", "110105", "440524"]),
    st.integers(min_value=0, max_value=999),
)
def test_legacy_form_of_any_18_digit_id_upgrades_back(birth, division, sequence):
    first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
    full = first17 + check_character(first17)
    legacy = full[:6] + full[8:17]
    assert upgrade_legacy(legacy) == full
    assert normalize_resident_id(legacy, today=TODAY).number == full
    assert normalize_resident_id(full, today=TODAY).birth_date == birth
