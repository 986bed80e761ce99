"""Missing-aware comparison (linkage schema v2): a record lacking a field is scored on the fields
both records have, through the matcher's one join path, blocked and exhaustive."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from aidlink.gateway.encoding import Encoder, LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline, schema_fingerprint
from aidlink.matcher.datasets import DatasetVersion, EncodingSpec, LoadedDataset
from aidlink.matcher.join import DatasetJoin
from aidlink.matcher.missing_aware import OptionalSegments, missing_aware_pairs
from aidlink.matcher.schema_policies import V2_CALIBRATED_THRESHOLD
from aidlink.matcher.similarity.blocking import BlockingKeys

SECRET = b"missing-aware-secret-0123456789a"
V2 = LinkageSchema.default_chinese()
PERSON = {
    "name": "李建国",
    "name_pinyin": "li jian guo",
    "id_number": "320102198003150318",
    "id_number_exact": "320102198003150318",
    "birth_date": "19800315",
    "sex": "1",
    "phone": "13912345678",
    "address": "江苏省南京市玄武区北京东路41号",
}
# The same person written by another department: a homophone in the name, no ID number.
SAME_NO_ID = dict(PERSON, name="李建果", id_number="", id_number_exact="")


def resident_id(first17: str) -> str:
    """A GB 11643 resident ID with its check character."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def dice(x: bytes, y: bytes) -> float:
    a = np.unpackbits(np.frombuffer(x, dtype=np.uint8)).astype(bool)
    b = np.unpackbits(np.frombuffer(y, dtype=np.uint8)).astype(bool)
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def loaded(encodings: list[bytes], schema: LinkageSchema, blocking: BlockingKeys | None = None) -> LoadedDataset:
    spec = EncodingSpec(len(encodings[0]) * 8, 1, schema_fingerprint(schema))
    meta = DatasetVersion(1, "nhsa", "insured", 1, "nhsa.insured", "2023.1", spec, (), len(encodings))
    array = np.frombuffer(b"".join(encodings), dtype=np.uint8).reshape(len(encodings), -1)
    return LoadedDataset(meta, array, [f"r{i}" for i in range(len(encodings))], [{} for _ in encodings], blocking)


def test_a_pair_with_one_id_missing_scores_as_if_neither_had_one():
    encoder = Encoder(V2, SECRET)
    mine, theirs = encoder.encode(PERSON), encoder.encode(SAME_NO_ID)
    # The plaintext expectation: the same two records with no ID on either side.
    expected = dice(encoder.encode(dict(PERSON, id_number="", id_number_exact="")), theirs)
    whole_vector = dice(mine, theirs)
    assert expected >= V2_CALIBRATED_THRESHOLD and whole_vector < expected - 0.1  # the ID's absence would cost 0.12
    outcome = DatasetJoin().match(
        np.frombuffer(mine, dtype=np.uint8).reshape(1, -1), loaded([theirs], V2), None, 0.5, all_pairs=True
    )
    assert [(link.mine, link.other) for link in outcome.links] == [(0, 0)]
    assert outcome.links[0].score == pytest.approx(expected, abs=1e-12)


def test_a_pair_with_both_ids_is_scored_on_the_whole_vector():
    encoder = Encoder(V2, SECRET)
    mine, theirs = encoder.encode(PERSON), encoder.encode(dict(PERSON, name="李建果"))
    outcome = DatasetJoin().match(
        np.frombuffer(mine, dtype=np.uint8).reshape(1, -1), loaded([theirs], V2), None, 0.5, all_pairs=True
    )
    assert outcome.links[0].score == pytest.approx(dice(mine, theirs), abs=1e-12)


def test_a_different_person_without_an_id_is_not_lifted_over_the_threshold():
    encoder = Encoder(V2, SECRET)
    other = dict(SAME_NO_ID, name="王秀英", name_pinyin="wang xiu ying", birth_date="19761102", sex="2", phone="")
    mine = np.frombuffer(encoder.encode(PERSON), dtype=np.uint8).reshape(1, -1)
    outcome = DatasetJoin().match(
        mine, loaded([encoder.encode(other)], V2), None, V2_CALIBRATED_THRESHOLD, all_pairs=True
    )
    assert outcome.links == []


def test_blocked_and_exhaustive_missing_aware_joins_agree():
    pipeline = RecordPipeline(V2, SECRET, 1, today=lambda: date(2025, 6, 30))
    rows = [
        {
            "rec_id": "1",
            "name": "李建国",
            "id_number": resident_id("32010219800315031"),
            "phone": "13912345678",
            "address": "江苏省南京市玄武区北京东路41号",
        },
        {"rec_id": "2", "name": "王秀英", "id_number": resident_id("32010219761102032"), "phone": "", "address": ""},
        {
            "rec_id": "3",
            "name": "张伟",
            "id_number": resident_id("32010619900101001"),
            "phone": "13800000001",
            "address": "",
        },
    ]
    theirs_rows = [
        dict(rows[0], id_number="", birth_date="19800315", sex="1"),  # no ID: blocked by pinyin + birth date
        dict(rows[1], phone="13700000002"),
        dict(rows[2], name="张玮", id_number="", birth_date="19900101", sex="1"),  # homophone, no ID: phone
    ]
    mine = [pipeline.prepare(r) for r in rows]
    theirs = [pipeline.prepare(r) for r in theirs_rows]
    mine_enc = np.frombuffer(b"".join(p.encoding for p in mine), dtype=np.uint8).reshape(len(mine), -1)
    other = loaded([p.encoding for p in theirs], V2, BlockingKeys.from_tokens([p.blocking_tokens for p in theirs]))
    mine_keys = BlockingKeys.from_tokens([p.blocking_tokens for p in mine])
    blocked = DatasetJoin().match(
        mine_enc, other, None, V2_CALIBRATED_THRESHOLD, all_pairs=False, mine_blocking=mine_keys
    )
    exhaustive = DatasetJoin().match(mine_enc, other, None, V2_CALIBRATED_THRESHOLD, all_pairs=False)
    assert blocked.blocked and not exhaustive.blocked
    assert sorted((l.mine, l.other) for l in blocked.links) == [(0, 0), (1, 1), (2, 2)]
    assert [(l.mine, l.other, l.score) for l in blocked.links] == [(l.mine, l.other, l.score) for l in exhaustive.links]


def test_missing_aware_pairs_masks_only_segments_one_side_lacks():
    segments = OptionalSegments(((8, 8),))
    a = np.array([[0xFF, 0xFF], [0xFF, 0x00]], dtype=np.uint8)
    b = np.array([[0xFF, 0x0F]], dtype=np.uint8)
    seen = []

    def find(x, y, rows_x, rows_y):
        seen.append((x.tolist(), y.tolist(), rows_x.tolist(), rows_y.tolist()))
        from aidlink.matcher.similarity import candidate_pairs, pack

        return candidate_pairs(
            pack(np.hstack([x, np.zeros((len(x), 6), np.uint8)])),
            pack(np.hstack([y, np.zeros((len(y), 6), np.uint8)])),
            0.1,
        )

    pairs, joins = missing_aware_pairs(a, b, segments, find)
    assert joins == 2
    # Row 1 of A lacks the segment: B's copy of it is zeroed for that join; row 0 has it: untouched.
    assert ([[255, 0]], [[255, 0]], [1], [0]) in seen and ([[255, 255]], [[255, 15]], [0], [0]) in seen
    scores = dict(zip(pairs.a_index.tolist(), pairs.scores.tolist()))
    assert scores[1] == 1.0 and scores[0] == pytest.approx(2 * 12 / (16 + 12))


def test_v3_datasets_are_compared_on_the_whole_vector():
    v3 = LinkageSchema.chinese_v3()
    encoder = Encoder(v3, SECRET)
    mine, theirs = encoder.encode(PERSON), encoder.encode(SAME_NO_ID)
    outcome = DatasetJoin().match(
        np.frombuffer(mine, dtype=np.uint8).reshape(1, -1), loaded([theirs], v3), None, 0.3, all_pairs=True
    )
    assert outcome.links[0].score == pytest.approx(dice(mine, theirs), abs=1e-12)


def test_the_join_reports_progress_as_each_presence_group_pair_finishes():
    """A department's long compare on the default schema says how far it is, not only at the end:
    one report per presence-group pair, never going back, ending at every row."""
    from aidlink.matcher.missing_aware import missing_aware_match

    segments = OptionalSegments(((64, 64),))
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (60, 16), dtype=np.uint8)
    b = rng.integers(0, 256, (40, 16), dtype=np.uint8)
    a[:20, 8:] = 0  # a third of A and half of B lack the optional segment: 2 x 2 group pairs
    b[:20, 8:] = 0
    reports: list[tuple[int, int]] = []
    missing_aware_match(a, b, 0.9, segments, all_pairs=True, progress=lambda done, total: reports.append((done, total)))
    assert len(reports) == 4
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    assert reports[0][0] < 60 and reports[-1] == (60, 60) and {total for _, total in reports} == {60}
