"""Record references the matcher sees reveal nothing: no row order, no record; the node resolves them."""

from __future__ import annotations

import re
from datetime import date

import pytest

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline
from aidlink.gateway.refs import ReferenceMap, UnknownReference
from aidlink.gateway.synthetic import SyntheticPopulation, department_extract

SECRET = b"references-secret-0123456789abcd"


@pytest.fixture(scope="module")
def prepared():
    rows = department_extract(SyntheticPopulation.generate(300, seed=8), "mca", seed=8).rows[:60]
    pipeline = RecordPipeline(LinkageSchema.default_chinese(), SECRET, 1, today=lambda: date(2025, 6, 30))
    dataset = pipeline.dataset(rows, tag="a1b2c3")
    records = list(dataset)
    return dataset, records


def test_references_carry_no_row_number_and_no_order(prepared):
    dataset, records = prepared
    refs = [r.ref for r in records]
    assert len(set(refs)) == len(refs) == len(dataset.record_ids)
    assert all(re.fullmatch(r"a1b2c3\.[a-p]{20}", ref) for ref in refs)  # letters: no digit runs to read as dates
    assert all(re.fullmatch(r"[a-p]{12}", ReferenceMap.new_tag()) for _ in range(20))
    assert not any(ref.endswith(f".{i}") for i, ref in enumerate(refs))
    tokens = [ref.split(".")[1] for ref in refs]
    assert tokens != sorted(tokens) and tokens != sorted(tokens, reverse=True)  # order says nothing
    # Another secret: unrelated tokens for the same tag and places.
    other = RecordPipeline(LinkageSchema.default_chinese(), SECRET[::-1], 1, today=lambda: date(2025, 6, 30))
    assert not {r.ref for r in other.dataset([], tag="a1b2c3")} and records[0].ref != _first_ref(other)


def _first_ref(pipeline: RecordPipeline) -> str:
    from aidlink.gateway.refs import reference

    return reference("a1b2c3", 0, pipeline.reference_key)


def test_the_node_resolves_its_references_and_refuses_others(prepared, tmp_path):
    dataset, records = prepared
    refs = ReferenceMap(tmp_path / "refs.sqlite")
    try:
        refs.save("a1b2c3", "mca/people", 1, dataset.record_ids, dataset.refs)
        assert [refs.resolve(r.ref) for r in records] == [r.record_id for r in records]
        for bad in ("a1b2c3.0", "a1b2c3.1", "a1b2c3." + "0" * 20, "ffffff.0"):
            with pytest.raises(UnknownReference, match="was not issued by this node"):
                refs.resolve(bad)
    finally:
        refs.close()


def test_references_of_uploads_before_opaque_tokens_still_resolve(tmp_path):
    refs = ReferenceMap(tmp_path / "refs.sqlite")
    try:
        with refs._conn:  # an upload written by the earlier version: rows, no tokens
            refs._conn.execute("INSERT INTO uploads (tag, dataset, version) VALUES ('old', 'mca/x', 1)")
            refs._conn.executemany(
                "INSERT INTO refs (tag, row, record_id) VALUES ('old', ?, ?)", [(0, "R-1"), (1, "R-2")]
            )
        assert refs.resolve("old.1") == "R-2" and refs.resolve("old.0") == "R-1"
    finally:
        refs.close()
