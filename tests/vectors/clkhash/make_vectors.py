"""Produce the clkhash compatibility vectors under tests/vectors/clkhash/ with clkhash itself.

aidlink re-implements clkhash's encoding (gateway/encoding) instead of depending on clkhash,
whose last release pins a vulnerable cryptography (<41). These vectors are the proof of
bit-for-bit equality: they are made by clkhash 0.18.3 in a throwaway virtualenv, never by
aidlink code, and tests/test_encoding_clkhash_compat.py checks our encoder against them.

Run from the repository root (deterministic: re-running rewrites identical files)::

    python3 -m venv /tmp/clkvenv
    /tmp/clkvenv/bin/pip install clkhash==0.18.3
    /tmp/clkvenv/bin/python tests/vectors/clkhash/make_vectors.py

Each vector set is a directory holding ``schema.json`` (linkage schema v3), ``records.csv``
(header = feature identifiers, one record per row, UTF-8), ``clks.json`` (clkhash's output,
``{"clks": [base64, ...]}``) and ``vector.json`` (the secret as hex, whether it was handed to
clkhash as bytes or as a str — clkhash encodes a str secret as UTF-8 — and the clkhash version).
The ``chinese-person-v3`` set is a frozen copy of gateway/encoding/schemas/chinese-person-v3.json
as it was when the vectors were made.
"""

from __future__ import annotations

import copy
import csv
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEFAULT_SCHEMA = REPO / "gateway" / "encoding" / "schemas" / "chinese-person-v3.json"
CLKHASH_VERSION = "0.18.3"

SALT = "SCbL2zHNnmsckfzchsNkZY9XoHk96P/G5nUBrM7ybymlEFsMV6PAeDZCNp3rfNUPCtLDMOGQHG4pCQpfhiHCyA=="

# --- Chinese person records -------------------------------------------------------------------

SURNAMES = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("林", "lin"),
    ("吕", "lv"),
    ("欧阳", "ou yang"),
    ("诸葛", "zhu ge"),
]
GIVEN = [
    ("丽", "li"),
    ("莉", "li"),
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("英", "ying"),
    ("华", "hua"),
    ("玉", "yu"),
    ("兰", "lan"),
    ("桂", "gui"),
    ("平", "ping"),
]
HOMOPHONES = {"丽": "莉", "莉": "丽", "静": "晶", "明": "铭", "华": "桦", "玉": "钰", "伟": "玮"}
REGIONS = [
    ("320102", "江苏省南京市玄武区"),
    ("320205", "江苏省无锡市锡山区"),
    ("320506", "江苏省苏州市吴中区"),
    ("321002", "江苏省扬州市广陵区"),
    ("320311", "江苏省徐州市泉山区"),
]
STREETS = ["中山路", "北京东路", "人民路", "解放路", "长江路", "建设路", "和平街", "幸福里"]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def resident_id(rng: random.Random, region: str, birth: str, sex: str) -> str:
    seq = rng.randrange(0, 100) * 10 + rng.choice([1, 3, 5, 7, 9] if sex == "1" else [0, 2, 4, 6, 8])
    body = f"{region}{birth}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS)) % 11]


def birth_date(rng: random.Random, first_year: int = 1935, last_year: int = 2015) -> str:
    return f"{rng.randint(first_year, last_year)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def chinese_rows(rng: random.Random, count: int = 30) -> list[list[str]]:
    rows: list[list[str]] = []
    for i in range(count):
        if i % 6 == 5 and rows:  # near-duplicate of an earlier person, as another department holds it
            base = list(rng.choice(rows))
            base[0] = f"R{i:04d}"
            chars = list(base[1])
            last = chars[-1]
            chars[-1] = HOMOPHONES.get(last, last)
            base[1] = "".join(chars)
            base[6] = "" if rng.random() < 0.5 else base[6]
            base[7] = base[7].replace("号", "号院") if base[7] else ""
            rows.append(base)
            continue
        sex = rng.choice("12")
        if i == 7:
            name, pinyin = "阿依古丽·买买提", "a yi gu li mai mai ti"
        else:
            surname = rng.choice(SURNAMES)
            given = [rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2]))]
            name = surname[0] + "".join(g[0] for g in given)
            pinyin = " ".join([surname[1]] + [g[1] for g in given])
        region, place = rng.choice(REGIONS)
        birth = birth_date(rng)
        phone = rng.choice(
            [
                "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
                "025" + "".join(rng.choice("0123456789") for _ in range(8)),
                "",
            ]
        )
        address = "" if rng.random() < 0.2 else f"{place}{rng.choice(STREETS)}{rng.randint(1, 300)}号"
        row = [f"R{i:04d}", name, pinyin, resident_id(rng, region, birth, sex), birth, sex, phone, address]
        if i in (9, 20):  # no resident ID: birth date and sex only from the extract
            row[3] = ""
        if i in (13, 20):  # sex unknown (GB/T 2261.1 codes 0/9 normalize to "")
            row[5] = ""
        if i == 16:  # no birth date recorded
            row[4] = ""
        rows.append(row)
    return rows


def with_exact_id(rows: list[list[str]]) -> list[list[str]]:
    """Insert the id_number_exact column (the ID again, hashed whole) after id_number."""
    return [row[:4] + [row[3]] + row[4:] for row in rows]


# --- Latin-name records -----------------------------------------------------------------------

FIRST = [
    "john",
    "jane",
    "michael",
    "sarah",
    "liam",
    "olivia",
    "noah",
    "emma",
    "jack",
    "chloe",
    "thomas",
    "isabella",
    "william",
    "mia",
    "james",
    "charlotte",
    "aaaa",
    "zoë",
]
LAST = [
    "smith",
    "jones",
    "williams",
    "brown",
    "wilson",
    "taylor",
    "nguyen",
    "johnson",
    "martin",
    "white",
    "o'brien",
    "mcdonald",
    "van der berg",
]
STREET = ["wattle street", "george st", "main road", "king avenue", "church lane", "ocean parade"]
SUBURB = ["RICHMOND", "GLEBE", "NEWTOWN", "BONDI", "PARRAMATTA", "ST KILDA", "FITZROY"]
STATES = ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]


def latin_febrl_rows(rng: random.Random, count: int = 30) -> list[list[str]]:
    rows = []
    for i in range(count):
        number = rng.choice([str(rng.randint(1, 400)), f"+{rng.randint(1, 99)}", f"00{rng.randint(1, 9)}", " 42"])
        rows.append(
            [
                f"rec-{i}-org",
                rng.choice(FIRST),
                rng.choice(LAST),
                number,
                rng.choice(STREET),
                rng.choice(SUBURB),
                f"{rng.randint(2000, 7999)}",
                rng.choice(STATES),
                f"{rng.randint(1920, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(1000000, 9999999)}",
            ]
        )
    return rows


def bits_per_feature_rows(rng: random.Random, count: int = 30) -> list[list[str]]:
    rows = []
    for i in range(count):
        surname = rng.choice(SURNAMES)
        given = [rng.choice(GIVEN) for _ in range(rng.choice([1, 2]))]
        rows.append(
            [
                str(i),
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                surname[0] + "".join(g[0] for g in given),
                str(rng.randint(0, 120)),
                rng.choice(["72.4", "68", "101.25", "55.0", "80.05", "3"]),
                rng.choice(["sydney", "melbourne", "nanjing", "suzhou", "wuxi", "perth", ""]),
            ]
        )
    return rows


def missing_value_rows(rng: random.Random, count: int = 30) -> list[list[str]]:
    rows = []
    for i in range(count):
        rows.append(
            [
                f"m{i}",
                rng.choice(FIRST + [""] * 4),
                rng.choice(LAST + ["N/A"] * 4),
                rng.choice([f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1930, 2010)}", "unknown"]),
                rng.choice(["M", "F", ""]),
                rng.choice([str(rng.randint(800, 7999)), "-"]),
                rng.choice(["", "13912345678", "0251234567", ""]),
            ]
        )
    return rows


def double_hash_rows(rng: random.Random, count: int = 30) -> list[list[str]]:
    return [
        [
            f"d{i}",
            rng.choice(FIRST),
            rng.choice(LAST),
            f"{rng.randint(1930, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
            rng.choice("MF"),
        ]
        for i in range(count)
    ]


# --- schemas ------------------------------------------------------------------------------------


def feature(
    identifier: str, fmt: dict, comparison: dict, strategy: dict, hash_: dict | None = None, missing: dict | None = None
) -> dict:
    hashing: dict = {"comparison": comparison, "strategy": strategy}
    if hash_ is not None:
        hashing["hash"] = hash_
    if missing is not None:
        hashing["missingValue"] = missing
    return {"identifier": identifier, "format": fmt, "hashing": hashing}


NGRAM2 = {"type": "ngram", "n": 2}
POS1 = {"type": "ngram", "n": 1, "positional": True}
EXACT = {"type": "exact"}
DOUBLE = {"type": "doubleHash"}

LATIN_FEBRL = {
    "version": 3,
    "clkConfig": {
        "l": 1024,
        "kdf": {"type": "HKDF", "hash": "SHA256", "salt": SALT, "info": "c2NoZW1hX2V4YW1wbGU=", "keySize": 64},
    },
    "features": [
        {"identifier": "rec_id", "ignored": True},
        feature("given_name", {"type": "string", "encoding": "utf-8", "maxLength": 64}, NGRAM2, {"bitsPerToken": 15}),
        feature("surname", {"type": "string", "case": "lower"}, NGRAM2, {"bitsPerToken": 15}),
        feature("street_number", {"type": "integer", "minimum": 0}, POS1, {"bitsPerToken": 10}),
        feature("address_1", {"type": "string", "minLength": 1}, NGRAM2, {"bitsPerToken": 5}),
        feature("suburb", {"type": "string", "case": "upper"}, NGRAM2, {"bitsPerToken": 8}, DOUBLE),
        feature("postcode", {"type": "string", "pattern": "[0-9]{4}"}, POS1, {"bitsPerToken": 10}),
        feature("state", {"type": "enum", "values": STATES}, EXACT, {"bitsPerToken": 40}),
        feature(
            "date_of_birth", {"type": "date", "format": "%Y-%m-%d"}, POS1, {"bitsPerToken": 8}, {"type": "blakeHash"}
        ),
        feature("soc_sec_id", {"type": "string", "pattern": "[0-9]{7}"}, EXACT, {"bitsPerToken": 70}),
    ],
}

BITS_PER_FEATURE = {
    "version": 3,
    "clkConfig": {"l": 512, "xor_folds": 1, "kdf": {"type": "HKDF", "hash": "SHA512", "keySize": 32}},
    "features": [
        {"identifier": "id", "ignored": True, "description": "row number"},
        feature("name", {"type": "string"}, NGRAM2, {"bitsPerFeature": 150}),
        feature(
            "name_zh_utf16",
            {"type": "string", "encoding": "utf-16"},
            {"type": "ngram", "n": 1},
            {"bitsPerFeature": 100},
        ),
        feature(
            "age",
            {"type": "integer", "minimum": 0, "maximum": 130},
            {"type": "numeric", "thresholdDistance": 5, "resolution": 3},
            {"bitsPerFeature": 70},
        ),
        feature(
            "weight_kg",
            {"type": "string", "pattern": "[0-9]+(\\.[0-9]+)?"},
            {"type": "numeric", "thresholdDistance": 2.5, "resolution": 2, "fractional_precision": 1},
            {"bitsPerToken": 6},
        ),
        feature(
            "city",
            {"type": "string", "encoding": "ascii", "case": "lower"},
            {"type": "ngram", "n": 3, "positional": True},
            {"bitsPerFeature": 7},
        ),
    ],
}

MISSING_VALUES = {
    "version": 3,
    "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "salt": SALT}},
    "features": [
        {"identifier": "rec_id", "ignored": True},
        feature(
            "given_name", {"type": "string", "minLength": 1}, NGRAM2, {"bitsPerToken": 15}, missing={"sentinel": ""}
        ),
        feature(
            "surname",
            {"type": "string", "minLength": 2},
            NGRAM2,
            {"bitsPerToken": 15},
            missing={"sentinel": "N/A", "replaceWith": ""},
        ),
        feature(
            "dob",
            {"type": "date", "format": "%d/%m/%Y"},
            POS1,
            {"bitsPerToken": 10},
            missing={"sentinel": "unknown", "replaceWith": "MISSING"},
        ),
        feature(
            "sex",
            {"type": "enum", "values": ["M", "F"]},
            EXACT,
            {"bitsPerToken": 30},
            missing={"sentinel": "", "replaceWith": "U"},
        ),
        feature("postcode", {"type": "integer", "minimum": 800}, POS1, {"bitsPerToken": 10}, missing={"sentinel": "-"}),
        feature(
            "phone",
            {"type": "string", "pattern": "[0-9]{10,11}"},
            NGRAM2,
            {"bitsPerToken": 6},
            missing={"sentinel": ""},
        ),
    ],
}


def double_hash_schema(length: int, k: int) -> dict:
    return {
        "version": 3,
        "clkConfig": {"l": length, "kdf": {"type": "HKDF", "hash": "SHA256", "salt": SALT, "keySize": 64}},
        "features": [
            {"identifier": "rec_id", "ignored": True},
            feature("given_name", {"type": "string"}, NGRAM2, {"bitsPerToken": k}, DOUBLE),
            feature(
                "surname",
                {"type": "string"},
                NGRAM2,
                {"bitsPerToken": k},
                {"type": "doubleHash", "prevent_singularity": True},
            ),
            feature(
                "dob",
                {"type": "date", "format": "%Y%m%d"},
                POS1,
                {"bitsPerToken": k},
                {"type": "doubleHash", "prevent_singularity": False},
            ),
            feature(
                "sex",
                {"type": "enum", "values": ["M", "F"]},
                EXACT,
                {"bitsPerToken": k},
                {"type": "doubleHash", "prevent_singularity": True},
            ),
        ],
    }


# --- writing ------------------------------------------------------------------------------------


def write_set(name: str, description: str, schema_dict: dict, rows: list[list[str]], secret: bytes | str) -> None:
    from clkhash import schema as clkschema
    from clkhash.clk import generate_clks
    from clkhash.serialization import serialize_bitarray

    directory = HERE / name
    directory.mkdir(exist_ok=True)
    identifiers = [f["identifier"] for f in schema_dict["features"]]
    # clkhash's schema loader mutates the dict it is given (it fills in defaults): hand it a copy.
    schema = clkschema.from_json_dict(copy.deepcopy(schema_dict))
    clks = generate_clks(rows, schema, secret, validate=True, max_workers=1)
    secret_bytes = secret.encode("utf-8") if isinstance(secret, str) else secret

    (directory / "schema.json").write_text(
        json.dumps(schema_dict, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with open(directory / "records.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(identifiers)
        writer.writerows(rows)
    (directory / "clks.json").write_text(
        json.dumps({"clks": [serialize_bitarray(c) for c in clks]}, indent=0) + "\n", encoding="utf-8"
    )
    manifest = {
        "description": description,
        "clkhash_version": CLKHASH_VERSION,
        "secret_hex": secret_bytes.hex(),
        "secret_passed_to_clkhash_as": "str" if isinstance(secret, str) else "bytes",
        "records": len(rows),
    }
    (directory / "vector.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{name}: {len(rows)} records, mean popcount {sum(c.count() for c in clks) / len(clks):.1f}")


def count_singular_tokens(rows: list[list[str]], schema_dict: dict, secret: bytes) -> int:
    """How many doubleHash tokens hit clkhash's singularity (h_md5 = 0 mod l) in this set."""
    from clkhash import schema as clkschema
    from clkhash.bloomfilter import _double_hash_token
    from clkhash.key_derivation import generate_key_lists

    schema = clkschema.from_json_dict(copy.deepcopy(schema_dict))
    keys = generate_key_lists(
        secret,
        len(schema.fields),
        key_size=schema.kdf_key_size,
        salt=schema.kdf_salt,
        info=schema.kdf_info,
        kdf=schema.kdf_type,
        hash_algo=schema.kdf_hash,
    )
    hits = 0
    for row in rows:
        for value, field, key in zip(row, schema.fields, keys):
            fhp = field.hashing_properties
            if fhp is None or not fhp.prevent_singularity:
                continue
            for token in fhp.comparator.tokenize(field.format_value(value)):
                md5hm, _ = _double_hash_token(token.encode("utf-8"), schema.l, key[0], key[1])
                hits += md5hm == 0
    return hits


def main() -> int:
    import clkhash

    if clkhash.__version__ != CLKHASH_VERSION:
        print(f"expected clkhash {CLKHASH_VERSION}, found {clkhash.__version__}", file=sys.stderr)
        return 1
    rng = random.Random(20240611)

    default_schema = json.loads(DEFAULT_SCHEMA.read_text(encoding="utf-8"))
    write_set(
        "chinese-person-v3",
        "aidlink's default Chinese person schema; Chinese names, near-duplicates, "
        "missing phone/address/id_number/birth_date/sex",
        default_schema,
        with_exact_id(chinese_rows(rng)),
        rng.randbytes(32),
    )
    write_set(
        "latin-febrl",
        "FEBRL-like Latin-name schema: positional unigrams, integer, date, enum, exact, "
        "bitsPerToken above 32 and 64, one doubleHash feature",
        LATIN_FEBRL,
        latin_febrl_rows(rng),
        rng.randbytes(32),
    )
    write_set(
        "bits-per-feature",
        "bitsPerFeature strategies, numeric comparison, utf-16 and ascii encodings, "
        "xor_folds=1, HKDF-SHA512 without salt/info, 32-byte keys",
        BITS_PER_FEATURE,
        bits_per_feature_rows(rng),
        rng.randbytes(16),
    )
    write_set(
        "missing-values",
        "missingValue sentinels with and without replaceWith; secret given to clkhash as a non-ASCII str",
        MISSING_VALUES,
        missing_value_rows(rng),
        "aidlink 联动 secret ü",
    )
    dh_rows = double_hash_rows(rng)
    write_set(
        "double-hash",
        "doubleHash with and without prevent_singularity, l=1000 (not a power of two)",
        double_hash_schema(1000, 15),
        dh_rows,
        b"double hash secret",
    )
    tiny_schema = double_hash_schema(16, 3)
    tiny_rows = double_hash_rows(rng)
    write_set(
        "double-hash-tiny",
        "doubleHash on a 16-bit filter so prevent_singularity's re-hash loop runs",
        tiny_schema,
        tiny_rows,
        b"tiny",
    )
    print(f"double-hash-tiny: {count_singular_tokens(tiny_rows, tiny_schema, b'tiny')} singular tokens re-hashed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
