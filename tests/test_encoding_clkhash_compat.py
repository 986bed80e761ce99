"""Bit-for-bit equality with clkhash 0.18.3 on vectors it produced (tests/vectors/clkhash)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from aidlink.gateway.encoding import Encoder, LinkageSchema, clks_to_json, read_clks

VECTORS = Path(__file__).parent / "vectors" / "clkhash"
VECTOR_SETS = sorted(p.name for p in VECTORS.iterdir() if (p / "vector.json").is_file())
EXPECTED_SETS = {
    "chinese-person-v3",
    "latin-febrl",
    "bits-per-feature",
    "missing-values",
    "double-hash",
    "double-hash-tiny",
}


def load_set(name: str) -> tuple[LinkageSchema, bytes, list[str], list[list[str]], list[bytes]]:
    directory = VECTORS / name
    manifest = json.loads((directory / "vector.json").read_text(encoding="utf-8"))
    assert manifest["clkhash_version"] == "0.18.3"
    schema = LinkageSchema.load(directory / "schema.json")
    with open(directory / "records.csv", encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    clks = read_clks(directory / "clks.json", length_bytes=schema.length_bits // 8)
    assert len(rows) == len(clks) == manifest["records"]
    return schema, bytes.fromhex(manifest["secret_hex"]), header, rows, clks


def test_all_vector_sets_present() -> None:
    assert EXPECTED_SETS <= set(VECTOR_SETS)


@pytest.mark.parametrize("name", VECTOR_SETS)
def test_sequence_records_match_clkhash(name: str) -> None:
    schema, secret, header, rows, expected = load_set(name)
    assert tuple(header) == schema.field_identifiers
    got = Encoder(schema, secret).encode_many(rows)
    mismatched = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
    assert not mismatched, f"{name}: rows {mismatched} differ from clkhash"


@pytest.mark.parametrize("name", VECTOR_SETS)
def test_mapping_records_match_clkhash(name: str) -> None:
    schema, secret, header, rows, expected = load_set(name)
    hashed = [f.identifier for f in schema.features if not f.ignored]
    records = [{k: v for k, v in zip(header, row) if k in hashed} for row in rows]
    encoder = Encoder(schema, secret)
    assert [encoder.encode(r) for r in records] == expected


@pytest.mark.parametrize("name", VECTOR_SETS)
def test_clk_json_matches_clkhash_file(name: str) -> None:
    schema, secret, _, rows, _ = load_set(name)
    ours = clks_to_json(Encoder(schema, secret).encode_many(rows))
    theirs = json.loads((VECTORS / name / "clks.json").read_text(encoding="utf-8"))
    assert ours == theirs


def test_vectors_cover_the_shipped_default_schema() -> None:
    frozen = json.loads((VECTORS / "chinese-person-v3" / "schema.json").read_text(encoding="utf-8"))
    assert LinkageSchema.chinese_v3().to_json() == frozen, (
        "gateway/encoding/schemas/chinese-person-v3.json changed: regenerate the vectors with "
        "tests/vectors/clkhash/make_vectors.py (see its docstring)"
    )


def test_str_secret_vector_is_utf8_of_the_str() -> None:
    manifest = json.loads((VECTORS / "missing-values" / "vector.json").read_text(encoding="utf-8"))
    assert manifest["secret_passed_to_clkhash_as"] == "str"
    assert bytes.fromhex(manifest["secret_hex"]).decode("utf-8") == "aidlink 联动 secret ü"
