from datetime import date

import pytest

from aidlink.gateway.normalize.issues import FieldIssue, RowRejected
from aidlink.gateway.normalize.person import FEATURE_KEYS, normalize_person
from aidlink.gateway.normalize.resident_id import check_character

TODAY = date(2025, 6, 30)
STEM = "32090219850307124"  # even 17th digit: female
ID = STEM + check_character(STEM)


def test_full_record_normalizes_every_feature():
    person = normalize_person(
        {
            "name": "王　麗",
            "id_number": ID.lower(),
            "birth_date": "1985年3月7日",
            "sex": "女",
            "phone": "+86 138 1234 5678",
            "address": "盐城市亭湖区文峰街道毓龙社区开放大道12号",
        },
        today=TODAY,
    )
    assert tuple(person.features) == FEATURE_KEYS
    assert person.features == {
        "name": "王丽",
        "name_pinyin": "wang li",
        "id_number": ID,
        "id_number_exact": ID,
        "birth_date": "19850307",
        "sex": "2",
        "phone": "13812345678",
        "address": "江苏省盐城市亭湖区文峰街道毓龙社区开放大道12号",
    }
    assert person.division_code == "320902"
    assert person.flags == []


def test_missing_fields_are_empty_and_filled_from_the_id():
    person = normalize_person({"name": "王丽", "id_number": ID}, today=TODAY)
    assert person.features["birth_date"] == "19850307"
    assert person.features["sex"] == "2"
    assert person.features["phone"] == "" and person.features["address"] == ""
    assert person.division_code == "320902"  # from the ID when there is no address


def test_birth_date_alone_is_enough():
    person = normalize_person({"name": "李华", "birth_date": "1990-1-2"}, today=TODAY)
    assert person.features["id_number"] == "" and person.features["birth_date"] == "19900102"


def test_disagreements_keep_the_given_value_and_are_flagged():
    person = normalize_person({"name": "王丽", "id_number": ID, "birth_date": "1985-03-08", "sex": "男"}, today=TODAY)
    assert person.features["birth_date"] == "19850308"
    assert person.features["sex"] == "1"
    assert {f.field for f in person.flags} == {"birth_date", "sex"}
    assert any("19850307" in f.reason for f in person.flags)


def test_bad_phone_is_flagged_not_fatal():
    person = normalize_person({"name": "王丽", "id_number": ID, "phone": "12345"}, today=TODAY)
    assert person.features["phone"] == ""
    assert person.flags[0].field == "phone" and person.flags[0].value == "12345"


def test_all_fatal_issues_of_a_row_are_collected():
    bad_id = "3209021985030712"  # 16 characters
    with pytest.raises(RowRejected) as caught:
        normalize_person({"name": "王丽3", "id_number": bad_id, "birth_date": "19850230", "sex": "?"}, today=TODAY)
    issues = caught.value.issues
    assert [i.field for i in issues] == ["name", "id_number", "birth_date", "sex"]
    assert all(isinstance(i, FieldIssue) for i in issues)
    message = str(caught.value)
    assert "name='王丽3'" in message and "contains digits" in message
    assert bad_id in message and "wrong length: 16" in message
    assert "1985-02-30 does not exist" in message


def test_mistyped_id_is_kept_flagged_and_not_derived_from():
    transposed = ID[:10] + ID[11] + ID[10] + ID[12:]  # 0307 -> 0370: check character now wrong
    assert transposed != ID
    person = normalize_person({"name": "王丽", "id_number": transposed.lower(), "sex": ""}, today=TODAY)
    assert person.features["id_number"] == transposed.upper()
    assert person.features["birth_date"] == "" and person.features["sex"] == ""
    assert person.division_code == ""
    assert [f.field for f in person.flags] == ["id_number"]
    assert "bad check character" in person.flags[0].reason and "kept as written" in person.flags[0].reason


def test_mistyped_id_does_not_override_the_given_birth_date():
    typo = ID[:6] + ("2" if ID[6] != "2" else "3") + ID[7:]
    person = normalize_person({"name": "王丽", "id_number": typo, "birth_date": "1985-3-7", "sex": "女"}, today=TODAY)
    assert person.features["birth_date"] == "19850307" and person.features["sex"] == "2"
    assert len(person.flags) == 1  # only the check character; no disagreement is invented


def test_name_and_an_identifier_are_required():
    with pytest.raises(RowRejected) as caught:
        normalize_person({"sex": "1"}, today=TODAY)
    fields = {(i.field, i.reason) for i in caught.value.issues}
    assert ("name", "is empty") in fields
    assert any(f == "id_number" and "required" in r for f, r in fields)


def test_field_issue_is_frozen():
    issue = FieldIssue("name", "x", "y")
    with pytest.raises(AttributeError):
        issue.field = "z"  # type: ignore[misc]
