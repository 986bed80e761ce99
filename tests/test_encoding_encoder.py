"""Encoder behaviour: shapes, value validation, missing values, similarity, folding, CLK files."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from aidlink.gateway.encoding import (
    ClkFileError,
    Encoder,
    FeatureValueError,
    LinkageSchema,
    RecordError,
    clks_from_json,
    read_clks,
    write_clks,
)

SECRET = bytes(range(32))
PERSON = {
    "name": "王丽",
    "name_pinyin": "wang li",
    "id_number": "32010219900101002X",
    "id_number_exact": "32010219900101002X",
    "birth_date": "19900101",
    "sex": "2",
    "phone": "13912345678",
    "address": "江苏省南京市玄武区中山路100号",
}


def dice(a: bytes, b: bytes) -> float:
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return 2 * (x & y).bit_count() / (x.bit_count() + y.bit_count())


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(LinkageSchema.chinese_v3(), SECRET)


def test_clk_has_schema_length_and_is_deterministic(encoder: Encoder) -> None:
    clk = encoder.encode(PERSON)
    assert len(clk) == 128 == encoder.length_bytes
    assert clk == Encoder(LinkageSchema.chinese_v3(), SECRET).encode(dict(PERSON))
    assert 0.2 < int.from_bytes(clk, "big").bit_count() / 1024 < 0.6


def test_mapping_and_sequence_agree(encoder: Encoder) -> None:
    row = ["local-7"] + [PERSON[k] for k in encoder.schema.field_identifiers[1:]]
    assert encoder.encode(row) == encoder.encode({**PERSON, "rec_id": "other", "household_id": "H1"})


def test_secret_changes_every_encoding(encoder: Encoder) -> None:
    other = Encoder(LinkageSchema.chinese_v3(), SECRET[::-1]).encode(PERSON)
    assert dice(other, encoder.encode(PERSON)) < 0.7


def test_homophone_name_stays_similar_other_person_does_not(encoder: Encoder) -> None:
    same = encoder.encode(PERSON)
    variant = encoder.encode({**PERSON, "name": "王莉", "phone": ""})
    stranger = encoder.encode(
        {
            "name": "陈建国",
            "name_pinyin": "chen jian guo",
            "id_number": "320506195503154419",
            "birth_date": "19550315",
            "sex": "1",
            "phone": "02584561234",
            "address": "江苏省苏州市吴中区人民路8号",
        }
    )
    assert dice(same, variant) > 0.8
    assert dice(same, stranger) < 0.6


def test_missing_phone_and_address_set_no_bits(encoder: Encoder) -> None:
    full = int.from_bytes(encoder.encode(PERSON), "big")
    absent = {k: v for k, v in PERSON.items() if k not in ("phone", "address")}
    blank = int.from_bytes(encoder.encode({**PERSON, "phone": "", "address": None}), "big")
    assert blank == int.from_bytes(encoder.encode(absent), "big")
    assert blank & ~full == 0 and blank != full


def test_unknown_id_birth_date_and_sex_are_allowed_and_set_no_bits(encoder: Encoder) -> None:
    # the normalization step gives "" when an extract lacks them (GB/T 2261.1 sex 0/9 included)
    full = int.from_bytes(encoder.encode(PERSON), "big")
    for key in ("id_number", "birth_date", "sex"):
        partial = int.from_bytes(encoder.encode({**PERSON, key: ""}), "big")
        assert partial & ~full == 0 and partial != full


def test_missing_required_feature_is_named(encoder: Encoder) -> None:
    record = {k: v for k, v in PERSON.items() if k != "name_pinyin"}
    with pytest.raises(FeatureValueError, match="'name_pinyin'.*no value given") as info:
        encoder.encode(record)
    assert info.value.feature == "name_pinyin" and info.value.value is None


@pytest.mark.parametrize(
    ("feature", "value", "reason"),
    [
        ("birth_date", "1990-01-01", "not a date in the format '%Y%m%d'"),
        ("birth_date", "19900230", "not a date"),
        ("sex", "M", "not one of ['1', '2']"),
        ("id_number", "32010219900101002x", "does not match the pattern"),
        ("phone", "139-1234-5678", "does not match the pattern"),
        ("name_pinyin", "Wang Li", "expected lower case"),
        ("name_pinyin", "", "shorter than the minimum length 1"),
        ("name", "", "shorter than the minimum length 1"),
        ("name", 42, "expected a string, got int"),
        ("name", "王\ud800", "cannot be encoded as utf-8"),
    ],
)
def test_bad_values_raise_feature_value_error(encoder: Encoder, feature: str, value: object, reason: str) -> None:
    with pytest.raises(FeatureValueError) as info:
        encoder.encode({**PERSON, feature: value})
    error = info.value
    assert (error.feature, error.value) == (feature, value)
    assert reason in error.reason
    assert f"feature {feature!r}" in str(error) and repr(value) in str(error)


def test_encode_many_names_the_row(encoder: Encoder) -> None:
    records = [PERSON, PERSON, {**PERSON, "sex": "3"}]
    with pytest.raises(FeatureValueError, match=r"^row 2, feature 'sex', value '3'") as info:
        encoder.encode_many(records)
    assert info.value.row == 2
    assert encoder.encode_many(records[:2]) == [encoder.encode(PERSON)] * 2


def test_sequence_of_wrong_length(encoder: Encoder) -> None:
    with pytest.raises(RecordError, match="row 0: the record has 2 values but the schema has 9 features"):
        encoder.encode_many([["a", "b"]])


@pytest.mark.parametrize("record", ["王丽", b"x", 17])
def test_non_record_rejected(encoder: Encoder, record: object) -> None:
    with pytest.raises(RecordError, match="expected a mapping or a sequence"):
        encoder.encode(record)  # type: ignore[arg-type]


def test_empty_or_text_secret_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        Encoder(LinkageSchema.chinese_v3(), b"")
    with pytest.raises(TypeError, match="must be bytes"):
        Encoder(LinkageSchema.chinese_v3(), "secret")  # type: ignore[arg-type]


def test_xor_fold_is_halves_xored() -> None:
    doc = LinkageSchema.chinese_v3().to_json()
    wide = copy.deepcopy(doc)
    wide["clkConfig"]["l"] = 2048
    folded = copy.deepcopy(doc)
    folded["clkConfig"]["xor_folds"] = 1
    a = Encoder(LinkageSchema.from_json(wide), SECRET).encode(PERSON)
    b = Encoder(LinkageSchema.from_json(folded), SECRET).encode(PERSON)
    assert len(b) == 128
    assert b == bytes(x ^ y for x, y in zip(a[:128], a[128:]))


def test_clk_file_roundtrip(tmp_path: Path, encoder: Encoder) -> None:
    clks = encoder.encode_many([PERSON, {**PERSON, "name": "王莉"}])
    path = tmp_path / "clks.json"
    write_clks(path, clks)
    assert read_clks(path, length_bytes=128) == clks


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"clk": []}', "'clks' array"),
        ('{"clks": [1]}', r"clks\[0\]: expected a base64 string"),
        ('{"clks": ["%s=", "!!"]}' % ("A" * 171), r"clks\[1\]: not valid base64"),
        ('{"clks": ["AAAA"]}', r"clks\[0\]: expected 128 bytes, got 3"),
        ("[", "not valid JSON"),
    ],
)
def test_clk_file_errors(doc: str, message: str) -> None:
    with pytest.raises(ClkFileError, match=message):
        clks_from_json(doc, length_bytes=128)
