"""The fast encoding path (token tables, batch diffusion, worker processes) gives exactly the plain
per-record path's bytes, and its errors still name the row and the field."""

from __future__ import annotations

import copy
import os
import pickle
from datetime import date

import pytest

from aidlink.bench.encode import normalized_features
from aidlink.gateway.encoding import Encoder, FeatureValueError, LinkageSchema, RecordError
from aidlink.gateway.encoding import encoder as encoder_module
from aidlink.gateway.encoding.bulk import encode_in_processes
from aidlink.gateway.normalize.person import normalize_person
from aidlink.gateway.pipeline import PreparedRecord, RecordPipeline, RefusedRow, RowProblem, RowRefused
from aidlink.gateway.refs import reference
from aidlink.gateway.synthetic import SyntheticPopulation, department_extract

SECRET = bytes(range(32))
TODAY = date(2025, 6, 30)
RECORDS = 3000


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    population = SyntheticPopulation.generate(RECORDS + 300, seed=4242)
    return list(department_extract(population, "nhsa", seed=4243).rows[:RECORDS])


@pytest.fixture(scope="module")
def features(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    out = normalized_features(rows)  # the bench's normalization (its TODAY is this module's)
    assert len(out) > RECORDS * 0.9
    return out


def hardened(document_change) -> LinkageSchema:
    document = LinkageSchema.chinese_v3().to_json()
    document_change(document)
    return LinkageSchema.from_json(document)


def _salt_balance_blip(doc: dict) -> None:
    doc["aidlinkHardening"] = {
        "salt": {"feature": "birth_date", "length": 4, "features": ["name", "name_pinyin"]},
        "balance": True,
        "blip": {"flipProbability": 0.02},
    }


def _folded(doc: dict) -> None:
    doc["clkConfig"]["l"] = 512
    doc["clkConfig"]["xor_folds"] = 1


def _positional_bigrams(doc: dict) -> None:
    for feature in doc["features"]:
        if feature["identifier"] in ("name_pinyin", "phone"):
            feature["hashing"]["comparison"] = {"type": "ngram", "n": 2, "positional": True}


SCHEMAS = {
    "v3": LinkageSchema.chinese_v3,
    "v2.1 (default: salted phone and address)": LinkageSchema.default_chinese,
    "v2": lambda: LinkageSchema.shipped("chinese-person-v2.json"),
    "v3+salt+balance+blip": lambda: hardened(_salt_balance_blip),
    "v3 xor-folded": lambda: hardened(_folded),
    "v3 positional bigrams": lambda: hardened(_positional_bigrams),
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_fast_path_is_bit_identical_to_the_plain_path(name: str, features, monkeypatch) -> None:
    schema = SCHEMAS[name]()
    reference = Encoder(schema, SECRET)
    plain = [reference.encode(record) for record in features]
    # Small batches and tables, so batch edges and table refills happen inside these records.
    monkeypatch.setattr(encoder_module, "BATCH_RECORDS", 700)
    monkeypatch.setattr("aidlink.gateway.encoding.token_tables.TABLE_LIMIT", 300)
    monkeypatch.setattr("aidlink.gateway.encoding.token_tables.VALUE_LIMIT", 500)
    fast = Encoder(schema, SECRET)
    assert fast.encode_many(features) == plain
    assert fast.encode_many(features) == plain  # warm tables give the same bytes
    assert fast.encode_each(features) == plain
    as_rows = [[record.get(f, str(n)) for f in schema.field_identifiers] for n, record in enumerate(features)]
    assert Encoder(schema, SECRET).encode_many(as_rows) == plain  # clkhash-style sequences too


@pytest.mark.parametrize("name", ["v3", "v2"])
def test_two_worker_processes_keep_order_and_bytes(name: str, features) -> None:
    schema = SCHEMAS[name]()
    reference = Encoder(schema, SECRET)
    plain = [reference.encode(record) for record in features]
    assert encode_in_processes(schema, SECRET, features, 2, chunk=256) == plain
    assert encode_in_processes(schema, SECRET, features, 1) == plain


def _with_faults(features: list[dict[str, str]]) -> list[dict[str, str]]:
    records = [dict(r) for r in features[:2000]]
    records[3]["id_number"] = "12345"
    records[1500]["sex"] = "9"
    del records[1999]["name"]
    return records


def test_row_errors_name_row_and_field(features, monkeypatch) -> None:
    monkeypatch.setattr(encoder_module, "BATCH_RECORDS", 512)
    encoder = Encoder(LinkageSchema.default_chinese(), SECRET)
    records = _with_faults(features)
    with pytest.raises(FeatureValueError) as caught:
        encoder.encode_many(records[4:])  # the first fault is at row 1496 of these, in the third batch
    assert caught.value.row == 1496 and caught.value.feature == "sex"
    assert str(caught.value) == "row 1496, feature 'sex', value '9': not one of ['1', '2']"

    each = encoder.encode_each(records)
    failed = {i: e for i, e in enumerate(each) if isinstance(e, RecordError)}
    assert sorted(failed) == [3, 1500, 1999]
    assert str(failed[3]) == "feature 'id_number', value '12345': does not match the pattern '[0-9]{17}[0-9X]'"
    assert "feature 'name'" in str(failed[1999]) and "no value given" in str(failed[1999])
    plain = Encoder(LinkageSchema.default_chinese(), SECRET)
    for i, got in enumerate(each):
        if i not in failed:
            assert got == plain.encode(records[i])


def test_row_errors_come_back_from_worker_processes_located(features) -> None:
    records = _with_faults(features)
    out = encode_in_processes(LinkageSchema.chinese_v3(), SECRET, records, 2, chunk=300)
    failed = {i: e for i, e in enumerate(out) if isinstance(e, RecordError)}
    assert sorted(failed) == [3, 1500, 1999]
    assert str(failed[3]) == ("row 3, feature 'id_number', value '12345': does not match the pattern '[0-9]{17}[0-9X]'")
    assert isinstance(failed[1500], FeatureValueError) and failed[1500].feature == "sex" and failed[1500].row == 1500
    error = pickle.loads(pickle.dumps(failed[1999]))
    assert str(error) == str(failed[1999]) and error.row == 1999


def test_a_value_of_the_wrong_type_fails_as_on_the_plain_path() -> None:
    encoder = Encoder(LinkageSchema.chinese_v3(), SECRET)
    record = dict(normalize_person({"name": "王丽", "id_number": "32010219900101002X"}, today=TODAY).features)
    record["phone"] = 13912345678  # type: ignore[assignment]
    with pytest.raises(FeatureValueError) as plain:
        encoder.encode(record)
    with pytest.raises(FeatureValueError) as fast:
        encoder.encode_many([record])
    assert str(fast.value) == f"row 0, {plain.value}"


def _records_one_by_one(pipeline: RecordPipeline, rows, tag: str) -> list[PreparedRecord | RefusedRow]:
    """What RecordPipeline.records yielded before batching: prepare() row by row."""
    out: list[PreparedRecord | RefusedRow] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        number, rid = i + 1, row.get("rec_id", "").strip()
        if not rid:
            out.append(RefusedRow(number, "", (RowProblem(number, "", "rec_id", "the record id is empty"),)))
            continue
        if rid in seen:
            out.append(RefusedRow(number, rid, (RowProblem(number, rid, "rec_id", f"duplicate record id {rid!r}"),)))
            continue
        try:
            record = pipeline.prepare(
                row, number=number, record_id=rid, ref=reference(tag, len(seen), pipeline.reference_key)
            )
        except RowRefused as exc:
            out.append(RefusedRow(number, rid, tuple(RowProblem(number, rid, f, r) for f, r in exc.problems)))
            continue
        seen.add(rid)
        out.append(record)
    return out


def test_pipeline_batches_give_the_same_records_refusals_and_refs(rows, monkeypatch) -> None:
    monkeypatch.setattr("aidlink.gateway.pipeline.BATCH_ROWS", 400)
    rows = [dict(r) for r in rows[:1500]]
    rows[10]["rec_id"] = ""
    rows[11]["rec_id"] = rows[12]["rec_id"]  # row 13 is the duplicate
    rows[500]["name"] = "王3丽"
    rows[801]["id_number"] = "not a number"
    pipeline = RecordPipeline(LinkageSchema.default_chinese(), SECRET, 1, today=lambda: TODAY)
    expected = _records_one_by_one(pipeline, rows, "t")
    got = list(pipeline.records(rows, tag="t"))
    assert got == expected
    refused = {r.row: r.problems for r in got if isinstance(r, RefusedRow)}
    assert {11, 13, 501, 802} <= set(refused)
    assert refused[501][0].field == "name" and "digits" in refused[501][0].reason
    assert refused[802][0].field == "id_number"
    assert pipeline.encode_rows(rows[:20])[:3] == [r.encoding for r in expected[:3]]  # type: ignore[union-attr]


def test_encoders_do_not_share_tables() -> None:
    """Each Encoder's tables are its own: another secret gives other bytes after a warm run."""
    record = normalize_person({"name": "王丽", "id_number": "32010219900101002X"}, today=TODAY).features
    first = Encoder(LinkageSchema.chinese_v3(), SECRET)
    assert first.encode_many([record]) == [first.encode(record)]
    other = Encoder(LinkageSchema.chinese_v3(), bytes(32))
    assert other.encode_many([copy.deepcopy(record)]) == [other.encode(record)] != first.encode_many([record])


@pytest.mark.parametrize("l", [64, 1024, 4096, 1 << 17])
def test_fast_blake_token_masks_equal_the_plain_positions(l: int) -> None:
    from aidlink.gateway.encoding.bloom import BlakeTokenMasks, blake_positions, positions_mask

    key = bytes(range(64))
    fast = BlakeTokenMasks(key, l)
    tokens = [b"", b"1", "王丽".encode(), b"32010219900101002X"] + [str(i).encode() for i in range(50)]
    for k in (1, 7, 31, 32, 33, 40, 64, 65, 100):
        plain = [positions_mask(blake_positions(token, k, key, l), l) for token in tokens]
        assert [fast(token, k) for token in tokens] == plain, k
        assert fast.many(tokens, k) == plain, k  # all the tokens hashed together


def test_one_encoder_shared_by_threads_gives_the_plain_bytes(features, monkeypatch) -> None:
    """A gateway may encode two uploads at once with one pipeline: tables emptied by one thread
    while another fills them must not lose a mask (tiny tables make that happen constantly)."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr("aidlink.gateway.encoding.token_tables.TABLE_LIMIT", 20)
    monkeypatch.setattr("aidlink.gateway.encoding.token_tables.VALUE_LIMIT", 30)
    monkeypatch.setattr(encoder_module, "BATCH_RECORDS", 100)
    schema = LinkageSchema.default_chinese()
    reference = Encoder(schema, SECRET)
    parts = [features[i : i + 500] for i in range(0, 2000, 500)]
    shared = Encoder(schema, SECRET)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(shared.encode_many, parts))
    assert results == [[reference.encode(r) for r in part] for part in parts]


def _hostile_records(features: list[dict[str, str]]) -> tuple[list, dict[int, str]]:
    """A few thousand records with faults of every kind at known rows: row -> what the error names."""
    records: list = [dict(r) for r in features[:2500]]
    records[0]["sex"] = "3"  # the very first row
    records[700]["id_number"] = "12345"
    records[701]["name"] = None  # no value, and name has no missingValue
    records[1234]["phone"] = 13912345678  # not a str
    records[1235]["address"] = ["unhashable"]  # not a str, not hashable either
    records[1800] = ["too", "short"]  # a sequence with the wrong number of values
    records[1801] = "not a record"
    records[-1]["birth_date"] = "20251399"  # the very last row
    expected = {
        0: "feature 'sex'",
        700: "feature 'id_number'",
        701: "feature 'name'",
        1234: "feature 'phone'",
        1235: "feature 'address'",
        1800: "values but the schema has",
        1801: "expected a mapping or a sequence",
        len(records) - 1: "feature 'birth_date'",
    }
    return records, expected


@pytest.mark.parametrize("name", ["v3", "v2", "v2.1 (default: salted phone and address)", "v3+salt+balance+blip"])
def test_several_processes_give_the_single_process_blob_and_errors(name: str, features) -> None:
    from aidlink.gateway.encoding.bulk import encode_blob_in_processes

    schema = SCHEMAS[name]()
    records, expected = _hostile_records(features)
    single = encode_blob_in_processes(schema, SECRET, records, 1)
    assert sorted(single.errors) == sorted(expected)
    for row, needle in expected.items():
        error = single.errors[row]
        assert error.row == row and str(error).startswith((f"row {row}, ", f"row {row}: ")) and needle in str(error), (
            str(error)
        )
    plain = Encoder(schema, SECRET)
    as_list = single.as_list()
    assert len(single) == len(as_list) == len(records)
    for row, clk in enumerate(as_list):
        if row in expected:
            assert clk is single.errors[row] and single.blob[row * single.size : (row + 1) * single.size] == bytes(
                single.size
            )
        else:
            assert clk == plain.encode(records[row]) == single.clk(row)
    # Chunks small enough that every process takes many, including ones with errors at their edges.
    for workers, chunk in ((2, 700), (3, 333), (2, 5000)):
        several = encode_blob_in_processes(schema, SECRET, records, workers, chunk=chunk)
        assert several.blob == single.blob
        assert {row: str(e) for row, e in several.errors.items()} == {row: str(e) for row, e in single.errors.items()}
        assert all(e.row == row for row, e in several.errors.items())

    def shown(out: list) -> list:
        return [str(c) if isinstance(c, RecordError) else c for c in out]

    assert shown(encode_in_processes(schema, SECRET, records, 2, chunk=400)) == shown(as_list)


def test_encode_rows_in_processes_equals_one_process(rows) -> None:
    from aidlink.gateway.bulk_rows import encode_rows_in_processes

    rows = [dict(r) for r in rows[:2000]]
    rows[5]["id_number"] = "not a number"
    rows[999]["name"] = "王3丽"
    pipeline = RecordPipeline(LinkageSchema.default_chinese(), SECRET, 1, today=lambda: TODAY)
    one = pipeline.encode_rows(rows)
    refused = [i for i, r in enumerate(one) if isinstance(r, RowRefused)]
    assert {5, 999} <= set(refused)
    two = encode_rows_in_processes(pipeline, rows, 2, chunk=300)
    assert [r if isinstance(r, bytes) else r.problems for r in two] == [
        r if isinstance(r, bytes) else r.problems for r in one
    ]


_PARENT = os.getpid()


def _fail_in_the_child(event, how: str):
    def work(start: int, stop: int) -> int:
        if os.getpid() == _PARENT:
            assert event.wait(60), "no child took a chunk"
            return start
        event.set()
        if how == "raise":
            raise FeatureValueError("sex", "9", "raised in a worker")
        os._exit(3)

    return work


@pytest.mark.parametrize("how", ["raise", "die"])
def test_a_failing_worker_process_fails_the_whole_run(how: str) -> None:
    import multiprocessing

    from aidlink.gateway.encoding.bulk import run_chunks

    event = multiprocessing.get_context("fork").Event()
    expected = (FeatureValueError, "raised in a worker") if how == "raise" else (RuntimeError, "died")
    with pytest.raises(expected[0], match=expected[1]):
        run_chunks(_fail_in_the_child(event, how), 100, 2, chunk=10)


def test_run_chunks_in_one_process_and_argument_checks() -> None:
    from aidlink.gateway.encoding.bulk import run_chunks

    assert run_chunks(lambda a, b: (a, b), 25, 1, chunk=10) == [(0, 10), (10, 20), (20, 25)]
    assert run_chunks(lambda a, b: (a, b), 25, 4, chunk=10) == [(0, 10), (10, 20), (20, 25)]
    assert run_chunks(lambda a, b: (a, b), 0, 2) == []
    with pytest.raises(ValueError, match="workers must be at least 1"):
        run_chunks(lambda a, b: 0, 5, 0)


@pytest.mark.parametrize("count", [1, 7, 8, 9, 1001])
def test_bit_slicing_is_packbits_along_the_records_and_back(count: int) -> None:
    import numpy as np

    from aidlink.gateway.encoding.segments import slice_bits, unslice_bits

    rows = np.random.default_rng(count).integers(0, 2, size=(count, 64), dtype=np.uint8)
    sliced = slice_bits(rows)
    assert sliced.shape == (64, (count + 7) // 8)
    assert np.array_equal(sliced, np.packbits(rows.T, axis=1))
    assert np.array_equal(unslice_bits(sliced, count), rows)


def test_windows_that_seldom_repeat_are_given_up_with_the_same_bytes(features, monkeypatch) -> None:
    """Addresses of random characters: almost every 4-character window is new, so the feature goes
    back to one lookup per bigram; digits keep their windows. Bytes equal the plain path throughout."""
    import random

    monkeypatch.setattr("aidlink.gateway.encoding.token_tables.TABLE_LIMIT", 4000)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    rng = random.Random(7)
    records = [dict(r, address="".join(rng.choices(chars, k=12))) for r in features[:1500]]
    schema = LinkageSchema.shipped("chinese-person-v2.json")  # its address is not salted: a table of its own
    fast = Encoder(schema, SECRET)
    assert fast.encode_many(records) == [Encoder(schema, SECRET).encode(r) for r in records]
    tables = {identifier: column.__self__ for _, identifier, _, _, column in fast._fast_masks() if column}
    assert not tables["address"]._windowed and tables["id_number"]._windowed
