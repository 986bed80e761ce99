"""Keyed blocking tokens made at the node: keyed, truncated, never the raw values."""

from __future__ import annotations

from datetime import date

from aidlink.gateway.blocking import (
    TOKEN_BYTES,
    V2_TOKENS_PER_RECORD,
    BlockingTokens,
    ShuffledBlockingTokens,
    blocking_values,
    blocking_values_v2,
)
from aidlink.gateway.normalize.person import normalize_person

ROW = {
    "name": "王丽",
    "id_number": "11010519491231002X",
    "birth_date": "1949-12-31",
    "sex": "女",
    "phone": "13812345678",
    "address": "江苏省南京市玄武区孝陵卫街道钟灵街50号",
}


def _person(row=ROW):
    return normalize_person(row, today=date(2025, 6, 30))


def test_tokens_are_keyed_truncated_and_do_not_contain_the_values():
    person = _person()
    tokens = BlockingTokens(b"secret-one-0123456789").tokens(person)
    assert len(tokens) == len(blocking_values(person)) >= 5
    assert all(len(t) == TOKEN_BYTES for t in tokens)
    assert len(set(tokens)) == len(tokens)
    raw_parts = [v.encode() for v in person.features.values() if len(v) >= 2]
    raw_parts += [person.features["id_number"][i : i + 4].encode() for i in range(0, 18, 4)]
    for token in tokens:
        assert not any(part in token for part in raw_parts)


def test_tokens_differ_across_secrets_and_agree_within_one():
    person = _person()
    one = BlockingTokens(b"secret-one-0123456789").tokens(person)
    again = BlockingTokens(b"secret-one-0123456789").tokens(person)
    two = BlockingTokens(b"secret-two-0123456789").tokens(person)
    assert one == again
    assert not set(one) & set(two)


def test_differently_written_rows_of_one_person_share_tokens():
    variant = dict(ROW, name="王 麗", birth_date="19491231", sex="F", phone="+86 138 1234 5678", address="")
    maker = BlockingTokens(b"secret-one-0123456789")
    assert set(maker.tokens(_person())) & set(maker.tokens(_person(variant)))


def test_a_missing_value_makes_no_token():
    no_phone = _person(dict(ROW, phone=""))
    assert not any(v.startswith("phone") for v in blocking_values(no_phone))
    assert any(v.startswith("phone") for v in blocking_values(_person()))


# -- v2 tokens: high-entropy only, a constant count, in no telling order ------------------------------


def test_v2_tokens_are_three_sorted_and_their_count_does_not_tell_which_fields_a_record_has():
    maker = ShuffledBlockingTokens(b"secret-one-0123456789")
    full = maker.tokens(_person())
    sparse = maker.tokens(_person(dict(ROW, id_number="", phone="")))
    assert len(full) == len(sparse) == V2_TOKENS_PER_RECORD
    assert full == sorted(full) and sparse == sorted(sparse)
    assert all(len(t) == TOKEN_BYTES for t in full + sparse)
    # Only the pinyin + birth date token is shared; the sparse record's fillers match nothing.
    assert len(set(full) & set(sparse)) == 1
    other = maker.tokens(_person(dict(ROW, name="李强", id_number="", phone="")))
    assert not set(other) & set(sparse)


def test_v2_token_position_says_nothing_about_its_kind():
    # Over many persons, the resident-ID token lands at every position of the sorted list.
    maker = ShuffledBlockingTokens(b"secret-one-0123456789")
    positions = set()
    for i in range(40):
        id_number = f"11010519491231{i:03d}"
        person = _person(dict(ROW, id_number=id_number + "10X98765432"[_check(id_number)]))
        tokens = maker.tokens(person)
        positions.add(tokens.index(maker.token("resident-id\x1f" + person.features["id_number"])))
    assert positions == {0, 1, 2}


def test_v2_tokens_are_keyed_apart_from_v1_and_come_only_from_unique_combinations():
    person = _person()
    v1 = set(BlockingTokens(b"secret-one-0123456789").tokens(person))
    v2 = set(ShuffledBlockingTokens(b"secret-one-0123456789").tokens(person))
    assert not v1 & v2
    assert [v.split("\x1f")[0] for v in blocking_values_v2(person)] == ["resident-id", "pinyin-birth-date", "phone"]


def _check(first17: str) -> int:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return sum(int(d) * w for d, w in zip(first17, weights)) % 11
