"""Uploads know their catalog entry (issue 16, item 2): with no attribute named, a node sends
every attribute its catalog entry lists, and the derived ones (school age, household
pseudonym, registered division) are declared in catalog data with a named rule, computed on
the node; the source field never travels. A declaration the node could not honour is refused
when the catalog is read, naming the attribute."""

from __future__ import annotations

from datetime import date

import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.catalog_lookup import NodeCatalog
from aidlink.gateway.client import submit_rows
from aidlink.gateway.derived_attributes import RULES
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.node import GatewayNode
from aidlink.gateway.normalize.person import normalize_person
from aidlink.gateway.pipeline import PreparedRecord, RecordPipeline
from aidlink.gateway.refs import ReferenceMap
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.catalog import Catalog, CatalogError
from aidlink.matcher.catalog_attributes import DERIVATION_RULES
from aidlink.v1 import common_pb2, gateway_pb2

TODAY = date(2025, 6, 30)


def entry_toml(*attributes: str) -> str:
    return (
        'version = "t"\n[[entry]]\nid = "x.y"\nname = "x"\nprovider = "mca"\nsharing = "conditional"\n'
        "attributes = [\n" + "".join(f"    {a},\n" for a in attributes) + "]\n"
    )


@pytest.mark.parametrize(
    "declaration, message",
    [
        (
            '{ name = "age", type = "enum", values = ["yes", "no"], derived = { from = "birth_date", rule = "age" } }',
            "derivation rule 'age' is not one of school-age, household-pseudonym, division",
        ),
        (
            '{ name = "hh", type = "pseudonym", derived = { from = "name", rule = "household-pseudonym" } }',
            "rule household-pseudonym derives from household_id, not 'name'",
        ),
        (
            '{ name = "county", type = "enum", values = ["a"], derived = { from = "address", rule = "division" } }',
            "rule division yields a division value, not enum",
        ),
        (
            '{ name = "pupil", type = "enum", values = ["y", "n"], derived = { from = "birth_date", rule = "school-age" } }',
            "rule school-age yields yes or no",
        ),
        (
            '{ name = "county", type = "division", derived = { rule = "division" } }',
            "derived must be",
        ),
    ],
)
def test_a_derivation_the_node_cannot_honour_is_refused_naming_the_attribute(declaration, message):
    with pytest.raises(CatalogError, match="attribute") as err:
        Catalog.parse(entry_toml(declaration))
    assert message in str(err.value)


def test_the_embedded_catalog_declares_its_derived_attributes_and_every_rule_is_implemented():
    assert set(RULES) == set(DERIVATION_RULES)
    catalog = Catalog.load()
    derived = {
        (e.id, t.name): (t.derived_from, t.derived_rule)
        for e in catalog.entries.values()
        for t in e.attribute_types
        if t.derived_rule
    }
    assert derived[("mca.low-income", "school_age")] == ("birth_date", "school-age")
    assert derived[("mca.low-income", "household")] == ("household_id", "household-pseudonym")
    assert all(derived[(e, "division")] == ("address", "division") for e in catalog.entries)
    again = Catalog.parse(catalog.to_toml())  # what is signed and published keeps the declarations
    assert again.to_dict() == catalog.to_dict()


def test_what_is_derived_follows_the_catalog_data_not_attribute_names():
    population = SyntheticPopulation.generate(1500, seed=5)
    rows = department_extract(population, "mca", seed=5).rows
    pipeline = RecordPipeline(LinkageSchema.default_chinese(), b"derived-test-secret-0123456789ab", 1, lambda: TODAY)
    renamed = Catalog.parse(
        entry_toml(
            '{ name = "pupil", type = "enum", values = ["yes", "no"], derived = { from = "birth_date", rule = "school-age" } }',
            '{ name = "school_age", type = "enum", values = ["yes", "no"] }',  # not derived here: read as a column
            '{ name = "home", type = "pseudonym", derived = { from = "household_id", rule = "household-pseudonym" } }',
            '{ name = "county", type = "division", derived = { from = "address", rule = "division" } }',
        )
    ).entries["x.y"]
    declared = {t.name: t for t in renamed.attribute_types}
    records = [
        r
        for r in pipeline.records(rows, tag="t", attributes=renamed.attributes, derivations=declared)
        if isinstance(r, PreparedRecord)
    ]
    assert len(records) == len(rows) - sum(not r.get("id_number") and not r.get("birth_date") for r in rows)
    by_id = {r["rec_id"]: r for r in rows}
    ages = set()
    for record in records:
        row = by_id[record.record_id]
        person = normalize_person(row, today=TODAY)
        born = person.features["birth_date"]
        age = TODAY.year - int(born[:4]) - ((TODAY.month, TODAY.day) < (int(born[4:6]), int(born[6:])))
        assert record.attributes["pupil"] == ("yes" if 3 <= age <= 22 else "no")
        assert record.attributes["school_age"] == row.get("school_age", "")  # no column: nothing derived
        assert record.attributes["home"] == pipeline.pseudonyms.household(row["household_id"])
        assert record.attributes["county"] == person.division_code and len(person.division_code) == 6
        assert all(renamed.attribute_problem(k, v) is None for k, v in record.attributes.items())
        ages.add(record.attributes["pupil"])
    assert ages == {"yes", "no"}


def test_an_upload_naming_no_attribute_sends_its_entry_s_list_and_the_agreement_filter_admits(tmp_path):
    population = SyntheticPopulation.generate(1500, seed=23)
    extracts = {d: department_extract(population, d, seed=23) for d in ("mca", "edu")}
    with LoopbackDeployment(tmp_path, departments=("mca", "edu")) as deployment:
        for dept, dataset, entry in (("mca", "low-income", "mca.low-income"), ("edu", "students", "edu.students")):
            header = gateway_pb2.SubmitHeader(dataset=dataset, catalog_entry=entry, catalog_version="2023.1")
            summary = submit_rows(deployment.nodes[dept].stub, header, extracts[dept].rows)
            assert summary.uploaded > 0 and summary.problem_count == sum(1 for p in summary.problems if p.kept)
        store = deployment.matcher.store
        stored = store.load(store.latest("mca", "low-income"))
        assert stored.meta.attributes == Catalog.load().entries["mca.low-income"].attributes
        assert {a["school_age"] for a in stored.attributes} == {"yes", "no"}
        assert all(len(a["household"]) == 32 and len(a["division"]) == 6 for a in stored.attributes)
        # edu's Art. 14(1) compare, the silent-zero case of the issue: now it matches
        request = gateway_pb2.GatewayCompareRequest(
            my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
        )
        events = list(deployment.nodes["edu"].stub.CompareDataset(request))
        assert events[-1].summary.matches > 0 and events[-1].summary.agreement == "art14-1a.mca-to-edu"


def test_a_version_published_before_derivations_were_declared_derives_as_before(tmp_path):
    """A matcher whose store already held a catalog version without `derived` declarations: the
    node derives school age, household and division by name, as the embedded catalog does."""
    embedded = Catalog.load()
    legacy_doc = embedded.to_dict()
    legacy_doc["version"] = "2022.9"
    for entry in legacy_doc["entry"]:
        for attribute in entry["attributes"]:
            attribute.pop("derived", None)
    legacy = Catalog.from_dict(legacy_doc)
    assert not any(t.derived_rule for e in legacy.entries.values() for t in e.attribute_types)
    population = SyntheticPopulation.generate(300, seed=9)
    rows = department_extract(population, "mca", seed=9).rows
    pipeline = RecordPipeline(LinkageSchema.default_chinese(), b"derived-test-secret-0123456789ab", 1, lambda: TODAY)
    node = GatewayNode("mca", pipeline, None, ReferenceMap(tmp_path / "refs.sqlite"), NodeCatalog(known=[legacy]))
    prepared = list(node.prepare(rows, "mca.low-income", "2022.9", tag="t"))
    assert prepared and {r.attributes["school_age"] for r in prepared} == {"yes", "no"}
    assert all(len(r.attributes["household"]) == 32 and len(r.attributes["division"]) == 6 for r in prepared)
    node.refs.close()
