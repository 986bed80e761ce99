"""Linkage-schema v3 parsing: the shipped default and errors that name the feature and key."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aidlink.gateway.encoding import LinkageSchema, SchemaError
from aidlink.gateway.encoding.formats import DateFormat, EnumFormat, StringFormat
from aidlink.gateway.encoding.strategy import BitsPerFeature, BitsPerToken
from aidlink.gateway.encoding.tokens import ExactTokenizer, NgramTokenizer

MINIMAL: dict[str, Any] = {
    "version": 3,
    "clkConfig": {"l": 1024, "kdf": {"type": "HKDF"}},
    "features": [
        {"identifier": "rec_id", "ignored": True},
        {
            "identifier": "name",
            "format": {"type": "string"},
            "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 10}},
        },
    ],
}


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL)
    target = doc
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def test_chinese_v3_schema() -> None:
    schema = LinkageSchema.chinese_v3()
    assert schema.length_bits == 1024
    assert schema.field_identifiers == (
        "rec_id",
        "name",
        "name_pinyin",
        "id_number",
        "id_number_exact",
        "birth_date",
        "sex",
        "phone",
        "address",
    )
    assert schema.feature("id_number_exact").hashing.tokenizer == ExactTokenizer()
    assert schema.feature("rec_id").ignored
    assert schema.feature("name").hashing.tokenizer == NgramTokenizer(1, False)
    assert schema.feature("name_pinyin").hashing.tokenizer == NgramTokenizer(2, False)
    assert isinstance(schema.feature("birth_date").format, DateFormat)
    assert schema.feature("sex").format == EnumFormat(frozenset({"1", "2"}))
    assert schema.feature("sex").hashing.tokenizer == ExactTokenizer()
    assert schema.feature("phone").missing_value.sentinel == ""
    assert schema.feature("address").missing_value.sentinel == ""
    assert isinstance(schema.feature("address").hashing.strategy, BitsPerFeature)
    assert {f.identifier for f in schema.features if f.missing_value is not None} == {
        "id_number",
        "id_number_exact",
        "birth_date",
        "sex",
        "phone",
        "address",
    }
    assert schema.feature("name").missing_value is None
    assert schema.kdf.hash == "SHA256" and schema.kdf.key_size == 64 and len(schema.kdf.salt) == 32


def test_from_json_accepts_text_bytes_and_objects(tmp_path: Path) -> None:
    text = json.dumps(MINIMAL)
    path = tmp_path / "schema.json"
    path.write_text(text)
    schemas = [
        LinkageSchema.from_json(MINIMAL),
        LinkageSchema.from_json(text),
        LinkageSchema.from_json(text.encode()),
        LinkageSchema.load(path),
    ]
    assert {s.field_identifiers for s in schemas} == {("rec_id", "name")}
    assert schemas[0].feature("name").hashing.strategy == BitsPerToken(10)
    assert schemas[0].to_json() == MINIMAL


def test_unknown_feature_lookup_names_known_ones() -> None:
    with pytest.raises(KeyError, match="'rec_id', 'name'"):
        LinkageSchema.from_json(MINIMAL).feature("phone")


@pytest.mark.parametrize(
    ("path", "value", "feature", "key", "reason"),
    [
        (["version"], 2, None, "version", "only linkage-schema version 3"),
        (["clkConfig", "l"], 1000, "name", "hashing.hash", "power of two"),
        (["clkConfig", "l"], 1020, None, "clkConfig.l", "multiple of 8"),
        (["clkConfig", "l"], "1024", None, "clkConfig.l", "expected integer"),
        (["clkConfig", "xorFolds"], 1, None, "clkConfig.xorFolds", "use 'xor_folds'"),
        (["clkConfig", "kdf", "type"], "PBKDF2", None, "clkConfig.kdf.type", "only 'HKDF'"),
        (["clkConfig", "kdf", "salt"], "not base64!", None, "clkConfig.kdf.salt", "not valid base64"),
        (["clkConfig", "kdf", "keySize"], 128, "name", "hashing.hash", "at most 64 bytes"),
        (["clkConfig", "kdf", "hash"], "SHA1", None, "clkConfig.kdf.hash", "'SHA256' or 'SHA512'"),
        (["features"], [], None, "features", "at least one feature"),
        (["features", 0, "extra"], 1, "rec_id", None, "unknown key(s) ['extra']"),
        (["features", 1, "format"], KeyError, "name", "format", "required key is missing"),
        (["features", 1, "format", "type"], "float", "name", "format.type", "'string', 'integer'"),
        (["features", 1, "format", "pattern"], "[0-9", "name", "format.pattern", "invalid regular expression"),
        (["features", 1, "format", "encoding"], "gbk", "name", "format.encoding", "'utf-8'"),
        (["features", 1, "format", "case"], "title", "name", "format.case", "'upper', 'lower' or 'mixed'"),
        (["features", 1, "format", "minLength"], -1, "name", "format.minLength", "at least 0"),
        (["features", 1, "hashing", "comparison", "n"], 0, "name", "hashing.comparison.n", "at least 1"),
        (["features", 1, "hashing", "comparison", "type"], "fuzzy", "name", "hashing.comparison.type", "'ngram'"),
        (
            ["features", 1, "hashing", "strategy"],
            {"bitsPerToken": 5, "bitsPerFeature": 50},
            "name",
            "hashing.strategy",
            "exactly one of",
        ),
        (["features", 1, "hashing", "strategy"], {"k": 5}, "name", "hashing.strategy", "unknown key(s) ['k']"),
        (
            ["features", 1, "hashing", "strategy", "bitsPerToken"],
            0,
            "name",
            "hashing.strategy.bitsPerToken",
            "at least 1",
        ),
        (["features", 1, "hashing", "hash"], {"type": "sha1"}, "name", "hashing.hash.type", "'blakeHash' or"),
        (
            ["features", 1, "hashing", "hash"],
            {"type": "blakeHash", "prevent_singularity": True},
            "name",
            "hashing.hash",
            "unknown key(s) ['prevent_singularity']",
        ),
        (
            ["features", 1, "hashing", "missingValue"],
            {"replaceWith": ""},
            "name",
            "hashing.missingValue.sentinel",
            "required key is missing",
        ),
        (["features", 1, "identifier"], "rec_id", "rec_id", "features[1].identifier", "duplicate"),
    ],
)
def test_schema_errors_name_feature_and_key(
    path: list[Any], value: Any, feature: str | None, key: str | None, reason: str
) -> None:
    with pytest.raises(SchemaError) as info:
        LinkageSchema.from_json(with_change(path, value))
    error = info.value
    assert (error.feature, error.key) == (feature, key)
    assert reason in str(error)
    if feature:
        assert f"feature {feature!r}" in str(error)


def test_feature_without_identifier() -> None:
    with pytest.raises(SchemaError, match=r"features\[1\].identifier"):
        LinkageSchema.from_json(with_change(["features", 1, "identifier"], KeyError))


def test_invalid_json_text() -> None:
    with pytest.raises(SchemaError, match="not valid JSON"):
        LinkageSchema.from_json("{version: 3")


def test_load_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(with_change(["version"], 1)))
    with pytest.raises(SchemaError, match="bad.json"):
        LinkageSchema.load(path)


def test_double_hash_allows_any_multiple_of_8() -> None:
    doc = with_change(["clkConfig", "l"], 1000)
    doc["features"][1]["hashing"]["hash"] = {"type": "doubleHash", "prevent_singularity": True}
    schema = LinkageSchema.from_json(doc)
    assert schema.length_bits == 1000
    assert schema.feature("name").hashing.hash.prevent_singularity


def test_xor_folds_as_clkhash_reads_it() -> None:
    schema = LinkageSchema.from_json(with_change(["clkConfig", "xor_folds"], 1))
    assert (schema.length_bits, schema.hashed_length_bits) == (1024, 2048)


def test_string_pattern_excludes_length_keys() -> None:
    doc = with_change(["features", 1, "format"], {"type": "string", "pattern": "[a-z]+", "minLength": 2})
    with pytest.raises(SchemaError, match="unknown key"):
        LinkageSchema.from_json(doc)
    doc["features"][1]["format"] = {"type": "string", "pattern": "[a-z]+", "encoding": "ascii"}
    assert LinkageSchema.from_json(doc).feature("name").format == StringFormat(encoding="ascii", pattern="[a-z]+")
