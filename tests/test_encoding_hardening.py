"""aidlink hardening extensions of the v3 schema: validation, salt, balancing, BLIP."""

from __future__ import annotations

import copy

import pytest

from aidlink.gateway.encoding import Encoder, LinkageSchema, SchemaError
from aidlink.gateway.encoding.hardening import keyed_permutation

SECRET = b"hardening test secret, 32 bytes!"
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


def with_hardening(section: object, xor_folds: int | None = None) -> dict:
    document = copy.deepcopy(LinkageSchema.chinese_v3().to_json())
    document["aidlinkHardening"] = section
    if xor_folds is not None:
        document["clkConfig"]["xor_folds"] = xor_folds
    return document


def encode(section: object, record: dict = PERSON, secret: bytes = SECRET) -> bytes:
    return Encoder(LinkageSchema.from_json(with_hardening(section)), secret).encode(record)


def ones(clk: bytes) -> int:
    return int.from_bytes(clk, "big").bit_count()


def dice(a: bytes, b: bytes) -> float:
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return 2 * (x & y).bit_count() / (x.bit_count() + y.bit_count())


PLAIN = Encoder(LinkageSchema.chinese_v3(), SECRET).encode(PERSON)


@pytest.mark.parametrize(
    "section, key, reason",
    [
        ([], "aidlinkHardening", "expected a JSON object"),
        ({"bogus": 1}, "aidlinkHardening", "unknown key(s) ['bogus']"),
        ({"balance": "yes"}, "aidlinkHardening.balance", "expected true or false"),
        ({"blip": {"flipProbability": 0.5}}, "aidlinkHardening.blip.flipProbability", "above 0 and below 0.5"),
        ({"blip": {"flipProbability": 0}}, "aidlinkHardening.blip.flipProbability", "above 0 and below 0.5"),
        ({"blip": {"flipProbability": True}}, "aidlinkHardening.blip.flipProbability", "above 0 and below 0.5"),
        ({"blip": {"p": 0.1}}, "aidlinkHardening.blip", "unknown key(s) ['p']"),
        ({"salt": {"feature": "birthday", "length": 4}}, "aidlinkHardening.salt.feature", "must name a feature"),
        ({"salt": {"feature": "birth_date", "length": 0}}, "aidlinkHardening.salt.length", "at least 1"),
        (
            {"salt": {"feature": "birth_date", "length": 4, "features": ["rec_id"]}},
            "aidlinkHardening.salt.features",
            "['rec_id'] are not hashed features",
        ),
        (
            {"salt": {"feature": "birth_date", "length": 4, "features": []}},
            "aidlinkHardening.salt.features",
            "non-empty array",
        ),
    ],
)
def test_invalid_hardening_sections_name_the_key(section, key, reason) -> None:
    with pytest.raises(SchemaError) as caught:
        LinkageSchema.from_json(with_hardening(section))
    assert caught.value.key == key
    assert reason in str(caught.value)


def test_no_hardening_section_is_plain_clkhash() -> None:
    schema = LinkageSchema.chinese_v3()
    assert not schema.hardening.enabled
    assert encode({}) == PLAIN  # an empty section changes nothing


def test_salt_changes_encodings_across_salts_only() -> None:
    salt = {"salt": {"feature": "birth_date", "length": 4}}
    salted = encode(salt)
    assert salted != PLAIN
    assert encode(salt) == salted  # deterministic
    same_year = encode(salt, {**PERSON, "birth_date": "19901231"})
    other_year = encode(salt, {**PERSON, "birth_date": "19911231"})
    assert dice(salted, same_year) > 0.85  # same salt: only the birth-date digits differ
    assert dice(salted, other_year) < 0.5  # another birth year: the salted features share nothing


def test_salt_can_be_limited_to_some_features() -> None:
    salt = {"salt": {"feature": "birth_date", "length": 4, "features": ["name", "name_pinyin"]}}
    a = encode(salt)
    b = encode(salt, {**PERSON, "birth_date": "19911231"})
    everything = {"salt": {"feature": "birth_date", "length": 4}}
    assert dice(a, b) > dice(encode(everything), encode(everything, {**PERSON, "birth_date": "19911231"}))


def test_balanced_encodings_double_in_length_and_have_constant_weight() -> None:
    schema = LinkageSchema.from_json(with_hardening({"balance": True}))
    encoder = Encoder(schema, SECRET)
    assert schema.encoding_length_bits == 2048 and encoder.length_bytes == 256
    sparse = encoder.encode({"name": "王丽", "name_pinyin": "wang li"})
    dense = encoder.encode(PERSON)
    assert len(dense) == 256 and ones(dense) == ones(sparse) == 1024


def test_keyed_permutation_is_a_permutation_that_depends_on_the_key() -> None:
    first = keyed_permutation(b"k1", 100)
    assert sorted(first) == list(range(100))
    assert first == keyed_permutation(b"k1", 100) != keyed_permutation(b"k2", 100)


def test_blip_is_reproducible_for_a_secret_and_flips_about_the_asked_share() -> None:
    blip = {"blip": {"flipProbability": 0.05}}
    flipped = encode(blip)
    assert encode(blip) == flipped
    changed = (int.from_bytes(flipped, "big") ^ int.from_bytes(PLAIN, "big")).bit_count()
    assert 20 <= changed <= 90  # 5 % of 1024 bits is 51
    other_secret = Encoder(LinkageSchema.chinese_v3(), b"another secret").encode(PERSON)
    assert encode(blip, secret=b"another secret") != other_secret


def test_blip_after_balancing_and_folding() -> None:
    document = with_hardening({"balance": True, "blip": {"flipProbability": 0.02}}, xor_folds=1)
    encoder = Encoder(LinkageSchema.from_json(document), SECRET)
    clk = encoder.encode(PERSON)
    balanced = Encoder(LinkageSchema.from_json(with_hardening({"balance": True}, xor_folds=1)), SECRET).encode(PERSON)
    assert len(clk) == len(balanced) == 256 and ones(balanced) == 1024
    changed = (int.from_bytes(clk, "big") ^ int.from_bytes(balanced, "big")).bit_count()
    assert 10 <= changed <= 80  # 2 % of 2048 bits is 41
