"""Typed catalog attributes: free text and person identifiers never travel as attribute values.

A catalog version whose attributes are untyped, free text or person identifiers is refused
when parsed; a value that does not fit its declared type is refused at the gateway node
before upload and, when a hostile client uploads straight to the matcher over mTLS, by the
matcher too, which then keeps nothing of it."""

from __future__ import annotations

import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.catalog import Catalog, CatalogError
from aidlink.matcher.catalog_attributes import AttributeType
from aidlink.v1 import gateway_pb2, matcher_pb2, matcher_pb2_grpc

ID_NUMBER = "320102199001011234"
NHSA_ATTRS = ["serious_illness", "high_cost", "medical_assistance"]


def one_entry(attributes: str) -> str:
    return (
        'version = "x"\n[[entry]]\nid = "health.a"\nname = "a"\nprovider = "health"\n'
        f'sharing = "conditional"\nattributes = [{attributes}]\n'
    )


@pytest.mark.parametrize(
    "attributes, message",
    [
        ('"disease"', "attribute 'disease' has no type"),
        ('{ name = "disease" }', "type None is not one of enum, boolean, integer, date, month, pseudonym"),
        ('{ name = "disease", type = "text" }', "type 'text' is free text, which never travels"),
        ('{ name = "disease", type = "enum", values = [] }', "an enum attribute lists its values"),
        ('{ name = "code", type = "enum", values = ["320102199001011234"] }', "is not a category label"),
        ('{ name = "amount", type = "integer", min = 0, max = 999999999999999999 }', "-1000000 <= min <= max"),
        ('{ name = "amount", type = "integer" }', "declares integer min and max (bounded)"),
        ('{ name = "since", type = "date", min = "2020-01-01" }', "declares min and max as YYYY-MM-DD"),
        ('{ name = "since", type = "month", min = "2020-13", max = "2021-01" }', "declares min and max as YYYY-MM"),
        ('{ name = "disease", type = "boolean", values = ["1"] }', "key(s) values do not apply to type boolean"),
    ],
)
def test_untyped_or_free_text_attributes_are_refused_naming_them(attributes, message):
    with pytest.raises(CatalogError) as err:
        Catalog.parse(one_entry(attributes), "proposed.toml")
    assert message in str(err.value) and "proposed.toml: entry #1 (health.a)" in str(err.value)


@pytest.mark.parametrize(
    "name",
    [
        "name",
        "id_number",
        "phone",
        "mobile",
        "address",
        "birth_date",
        "xm",
        "sfzh",
        "lxdh",
        "home_address",
        "patient_name",
        "dob",
    ],
)
def test_a_person_identifier_as_attribute_is_refused_whatever_its_type(name):
    with pytest.raises(CatalogError) as err:
        Catalog.parse(
            one_entry(
                f'{{ name = "{name}", type = "enum", values = ["a"] }}, {{ name = "disease", type = "boolean" }}'
            ),
            "proposed.toml",
        )
    assert f"lists person identifiers as attributes (health.a: {name})" in str(err.value)


def test_every_embedded_attribute_is_typed_and_no_identifier():
    for entry in Catalog.load().entries.values():
        assert [t.name for t in entry.attribute_types] == list(entry.attributes), entry.id
        assert all(t.type for t in entry.attribute_types)


def test_values_are_held_to_their_type():
    grade = AttributeType("grade", "integer", min="1", max="4")
    since = AttributeType("since", "date", min="2000-01-01", max="2030-12-31")
    month = AttributeType("month", "month", min="2020-01", max="2025-12")
    flag = AttributeType("flag", "boolean")
    household = AttributeType("household", "pseudonym")
    assert [grade.problem(v) for v in ("", "1", "4")] == [None] * 3
    assert "an integer from 1 to 4" in grade.problem("5") and grade.problem(ID_NUMBER) and grade.problem("1.5")
    assert since.problem("2024-02-29") is None and since.problem("2023-02-29") and since.problem("1999-12-31")
    assert month.problem("2024-07") is None and month.problem("2026-01") and month.problem("2024-7")
    assert flag.problem("1") is None and flag.problem("yes") == "value 'yes' is not 1 or 0 (boolean)"
    assert household.problem("0" * 32) is None and household.problem(ID_NUMBER)
    assert ID_NUMBER not in flag.problem(ID_NUMBER, echo=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("typed")
    population = SyntheticPopulation.generate(300, seed=5)
    rows = department_extract(population, "nhsa", seed=5).rows
    with LoopbackDeployment(root, departments=("nhsa",), database_url=matcher_database_url) as d:
        yield d, rows


def test_an_id_number_in_an_attribute_is_refused_at_the_node(world, stored_matcher_state):
    d, rows = world
    rows = [dict(r) for r in rows[:20]]
    rows[3]["serious_illness"] = ID_NUMBER
    summary = submit_rows(
        d.nodes["nhsa"].stub,
        gateway_pb2.SubmitHeader(
            dataset="medical", catalog_entry="nhsa.medical", catalog_version="2023.1", attributes=NHSA_ATTRS
        ),
        rows,
    )
    refused = [p for p in summary.problems if not p.kept]
    assert [(p.row, p.record_id, p.field) for p in refused] == [(4, rows[3]["rec_id"], "attributes.serious_illness")]
    assert f"value '{ID_NUMBER}' is not 1 or 0 (boolean)" in refused[0].reason
    assert "catalog nhsa.medical version 2023.1" in refused[0].reason
    assert summary.uploaded == 19
    assert not any(ID_NUMBER.encode() in blob for blob in stored_matcher_state(d).values())


def test_a_hostile_client_uploading_directly_is_refused_by_the_matcher(world, stored_matcher_state):
    import grpc

    d, rows = world
    node = d.nodes["nhsa"]
    encodings = [node.server.node.pipeline.encode_person(r)[0] for r in rows[:3]]
    chunks = [
        matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset="medical-raw",
                catalog_entry="nhsa.medical",
                catalog_version="2023.1",
                encoding=node.server.node.encoding_info,
                attributes=NHSA_ATTRS,
            )
        ),
        matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(
                records=[
                    matcher_pb2.EncodedRecord(ref="r0", encoding=encodings[0], attributes={"serious_illness": "1"}),
                    matcher_pb2.EncodedRecord(
                        ref="r1", encoding=encodings[1], attributes={"serious_illness": ID_NUMBER}
                    ),
                    matcher_pb2.EncodedRecord(ref="r2", encoding=encodings[2], attributes={"high_cost": "张三"}),
                ]
            )
        ),
    ]
    directory = node.directory
    creds = grpc.ssl_channel_credentials(
        (directory / "ca.crt").read_bytes(),
        (directory / "node.key").read_bytes(),
        (directory / "node.crt").read_bytes(),
    )
    with grpc.secure_channel(d.matcher.address, creds) as channel:
        summary = matcher_pb2_grpc.MatcherStub(channel).UploadDataset(iter(chunks))
    assert summary.accepted == 1 and summary.rejected_count == 2
    assert [(p.index, p.ref, p.field) for p in summary.rejected] == [
        (1, "r1", "attributes.serious_illness"),
        (2, "r2", "attributes.high_cost"),
    ]
    assert all(
        "is not 1 or 0 (boolean)" in p.reason and "nhsa.medical version 2023.1" in p.reason for p in summary.rejected
    )
    assert ID_NUMBER not in summary.rejected[0].reason
    [entry] = [
        e
        for e in d.audit_entries()
        if e.method == "/aidlink.v1.Matcher/UploadDataset"
        and any(ds.startswith("nhsa/medical-raw") for ds in e.datasets)
    ]
    assert entry.counts["rejected"] == 2  # the audit entry names each refused attribute and its rule
    assert "attributes.serious_illness x1" in entry.detail and "attributes.high_cost x1" in entry.detail
    assert "(boolean)" in entry.detail
    stored = stored_matcher_state(d)
    assert any(b"medical-raw" in blob for blob in stored.values())  # the state was captured: it holds the upload
    leaks = [name for name, blob in stored.items() if ID_NUMBER.encode() in blob or "张三".encode() in blob]
    assert leaks == []
