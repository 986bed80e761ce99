"""Linkage schema v2 (segments + keyed diffusion), tried as the matcher would: the bits it stores."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from aidlink.gateway.encoding import Encoder, LinkageSchema, SchemaError
from aidlink.gateway.encoding.segments import diffusion_taps
from aidlink.gateway.pipeline import schema_fingerprint
from aidlink.matcher.schema_policies import (
    DEFAULT_SCHEMA_FINGERPRINT,
    SCHEMA_POLICIES,
    V2_1_SCHEMA_FINGERPRINT,
    V2_SCHEMA_FINGERPRINT,
    V3_SCHEMA_FINGERPRINT,
)

SECRET = b"v2-test-secret-0123456789abcdef!"
PERSON = {
    "name": "王丽",
    "name_pinyin": "wang li",
    "id_number": "11010519491231002X",
    "id_number_exact": "11010519491231002X",
    "birth_date": "19491231",
    "sex": "2",
    "phone": "13812345678",
    "address": "江苏省南京市玄武区中山路18号",
}
V2 = LinkageSchema.default_chinese()


def bits(encoding: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(encoding, dtype=np.uint8))


def segment(encoding: bytes, name: str) -> np.ndarray:
    seg = next(s for s in V2.hardening.layout.segments if s.name == name)
    return bits(encoding)[seg.start : seg.start + seg.bits]


def test_v2_1_is_the_default_and_v2_and_v3_stay_readable():
    assert V2.hardening.layout is not None and V2.hardening.layout.diffusion_t == 10
    assert [(s.name, s.bits, s.optional) for s in V2.hardening.layout.segments] == [
        ("core", 512, False),
        ("id", 256, True),
        ("phone", 128, True),
        ("address", 128, True),
    ]
    assert V2.hardening.salt is not None and V2.hardening.salt.features == ("phone", "address")
    v3 = LinkageSchema.chinese_v3()
    assert v3.hardening.layout is None
    v2 = LinkageSchema.shipped("chinese-person-v2.json")
    assert schema_fingerprint(V2) == V2_1_SCHEMA_FINGERPRINT == DEFAULT_SCHEMA_FINGERPRINT
    assert schema_fingerprint(v2) == V2_SCHEMA_FINGERPRINT
    assert schema_fingerprint(v3) == V3_SCHEMA_FINGERPRINT
    # The matcher's table pins the segments the shipped schemas declare (v2.1 keeps v2's layout).
    for schema, fingerprint in ((V2, V2_1_SCHEMA_FINGERPRINT), (v2, V2_SCHEMA_FINGERPRINT)):
        declared = tuple((start, width) for _, start, width in schema.hardening.layout.describe())
        assert SCHEMA_POLICIES[fingerprint].optional_segments.ranges == declared


def test_a_household_shares_no_segment_under_the_default_but_did_under_v2():
    """A matcher that knows one person must not find the household through a shared address or
    phone segment (docs/privacy.md, known pairs); the same person still matches them exactly."""
    spouse = dict(PERSON, name="李强", name_pinyin="li qiang", id_number="", id_number_exact="", birth_date="19500302")
    spouse["sex"] = "1"
    v2 = LinkageSchema.shipped("chinese-person-v2.json")
    for name in ("phone", "address"):
        before = [segment(Encoder(v2, SECRET).encode(p), name) for p in (PERSON, spouse)]
        assert np.array_equal(*before), name  # v2: one household, one segment
        after = [segment(Encoder(V2, SECRET).encode(p), name) for p in (PERSON, spouse)]
        agree = float((after[0] == after[1]).mean())
        assert 0.3 < agree < 0.7, (name, agree)  # v2.1: as unrelated as two random halves
        again = segment(Encoder(V2, SECRET).encode(dict(PERSON, name="王莉")), name)
        assert np.array_equal(after[0], again), name  # same person, same birth date: identical


def test_v2_encodings_are_deterministic_under_one_secret():
    first = Encoder(V2, SECRET).encode(PERSON)
    assert first == Encoder(V2, SECRET).encode(dict(PERSON))
    assert len(first) == 128


def test_another_secret_gives_unrelated_bits_in_every_segment():
    mine = Encoder(V2, SECRET).encode(PERSON)
    other = Encoder(V2, SECRET[::-1]).encode(PERSON)
    for name in ("core", "id", "phone", "address"):
        a, b = segment(mine, name), segment(other, name)
        # Unrelated diffused bits agree on about half the positions (fixed secrets: no flakiness).
        assert 0.35 < (a == b).mean() < 0.65, name


def test_diffusion_taps_are_keyed_distinct_and_in_range():
    taps = diffusion_taps(b"k" * 32, 512, 10)
    assert taps.shape == (512, 10) and taps.min() >= 0 and taps.max() < 512
    assert all(len(set(row)) == 10 for row in taps.tolist())
    assert (diffusion_taps(b"k" * 32, 512, 10) == taps).all()
    assert (diffusion_taps(b"j" * 32, 512, 10) != taps).mean() > 0.9


def test_diffusion_hides_which_bits_a_token_sets():
    # Undiffused, one more character of the name only adds bits; diffused, about half of the
    # core's bits change, so the matcher cannot read q-gram bit patterns off the encoding.
    document = copy.deepcopy(V2.to_json())
    del document["aidlinkHardening"]["diffusion"]
    plain = Encoder(LinkageSchema.from_json(document), SECRET)
    diffused = Encoder(V2, SECRET)
    longer = dict(PERSON, name="王丽华", name_pinyin="wang li hua")
    p0, p1 = segment(plain.encode(PERSON), "core"), segment(plain.encode(longer), "core")
    assert ((p0 == 1) & (p1 == 0)).sum() == 0  # plain filters: superset
    d0, d1 = segment(diffused.encode(PERSON), "core"), segment(diffused.encode(longer), "core")
    assert ((d0 == 1) & (d1 == 0)).sum() > 50


def test_a_missing_field_leaves_its_segment_empty_and_the_others_unchanged():
    encoder = Encoder(V2, SECRET)
    full = encoder.encode(PERSON)
    no_id = encoder.encode(dict(PERSON, id_number="", id_number_exact=""))
    assert not segment(no_id, "id").any() and segment(full, "id").any()
    for name in ("core", "phone", "address"):
        assert (segment(no_id, name) == segment(full, name)).all()


def test_a_key_scope_gives_encodings_that_cannot_be_pooled():
    plain = Encoder(V2, SECRET).encode(PERSON)
    scope_a = Encoder(V2, SECRET, scope=b"agreement A|2026").encode(PERSON)
    scope_b = Encoder(V2, SECRET, scope=b"agreement B|2026").encode(PERSON)
    assert scope_a == Encoder(V2, SECRET, scope=b"agreement A|2026").encode(PERSON)
    for x, y in ((plain, scope_a), (scope_a, scope_b)):
        assert 0.35 < (segment(x, "core") == segment(y, "core")).mean() < 0.65


def _with(mutate) -> dict:
    document = copy.deepcopy(V2.to_json())
    mutate(document["aidlinkHardening"])
    return document


@pytest.mark.parametrize(
    "mutate, key, message",
    [
        (lambda h: h["segments"][0].update(bits=256), "aidlinkHardening.segments", "add up to 768"),
        (lambda h: h["segments"][1]["features"].append("name"), "aidlinkHardening.segments[1].features", "already"),
        (lambda h: h["segments"][3].update(features=["phone"]), "aidlinkHardening.segments[3].features", "already"),
        (lambda h: h["segments"][2].update(bits=100), "aidlinkHardening.segments[2].bits", "power of two"),
        (lambda h: h.update(diffusion={"t": 0}), "aidlinkHardening.diffusion.t", "from 1 to 16"),
        (lambda h: h.update(balance=True), "aidlinkHardening", "do not combine with ['balance']"),
    ],
)
def test_a_bad_segment_layout_is_refused_naming_the_key(mutate, key, message):
    with pytest.raises(SchemaError) as info:
        LinkageSchema.from_json(_with(mutate))
    assert info.value.key == key and message in str(info.value)
