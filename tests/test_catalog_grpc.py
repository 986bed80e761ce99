"""The catalog over real mTLS gRPC: nodes read versions and diffs; uploads are held to the
published entry's information items; a dataset whose entry is not shared is never matched."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.catalog import Catalog
from aidlink.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, gateway_pb2
from tests.support.catalog_signing import CatalogSigners

MCA_ATTRS = ["category", "dispersed", "school_age", "household"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("catalog")
    population = SyntheticPopulation.generate(300, seed=3)
    extracts = {d: department_extract(population, d, seed=3) for d in ("mca", "edu")}
    with LoopbackDeployment(root, departments=("mca", "edu"), database_url=matcher_database_url) as d:
        submit_rows(
            d.nodes["mca"].stub,
            gateway_pb2.SubmitHeader(
                dataset="low-income", catalog_entry="mca.low-income", catalog_version="2023.1", attributes=MCA_ATTRS
            ),
            extracts["mca"].rows,
        )
        submit_rows(
            d.nodes["edu"].stub,
            gateway_pb2.SubmitHeader(
                dataset="students",
                catalog_entry="edu.students",
                catalog_version="2023.1",
                attributes=["school_stage", "assistance"],
            ),
            extracts["edu"].rows,
        )
        yield d, extracts


def catalog_stub(d, dept):
    return catalog_pb2_grpc.CatalogStub(d.nodes[dept].server.channel)


def compare(d):
    return list(
        d.nodes["edu"].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(
                my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
            )
        )
    )


def test_nodes_read_the_published_catalog(world):
    d, _ = world
    audited_before = len(d.audit_entries())  # the nodes read 2023.1 to check values before uploading
    stub = catalog_stub(d, "edu")
    versions = stub.ListVersions(catalog_pb2.ListCatalogVersionsRequest()).versions
    assert [v.version for v in versions] == ["2023.1"] and versions[0].approved_by == ["mca"]
    current = stub.GetCatalog(catalog_pb2.GetCatalogRequest())
    entry = next(e for e in current.entries if e.id == "mca.low-income")
    assert (entry.provider, entry.sharing, list(entry.attributes)) == ("mca", "conditional", [*MCA_ATTRS, "division"])
    assert entry.security_class and entry.update_cycle and entry.source_system and entry.category
    with pytest.raises(grpc.RpcError) as err:
        stub.GetCatalog(catalog_pb2.GetCatalogRequest(version="1999"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "'1999' is not published" in err.value.details()
    gets = [e for e in d.audit_entries()[audited_before:] if e.method == "/aidlink.v1.Catalog/GetCatalog"]
    assert [e.outcome for e in gets] == ["allowed", "refused"] and gets[0].department == "edu"


def test_upload_of_an_attribute_the_entry_does_not_list_is_refused_naming_it(world):
    d, extracts = world
    with pytest.raises(grpc.RpcError) as err:
        submit_rows(
            d.nodes["edu"].stub,
            gateway_pb2.SubmitHeader(
                dataset="students-x",
                catalog_entry="edu.students",
                catalog_version="2023.1",
                attributes=["assistance", "household_income"],
            ),
            extracts["edu"].rows[:5],
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "household_income not listed in catalog entry edu.students" in err.value.details()


def test_a_not_shared_entry_cannot_be_matched(world):
    d, extracts = world
    assert any(local_matches(e) for e in compare(d))
    default = Catalog.load()
    entries = dict(default.entries)
    entries["mca.low-income"] = dataclasses.replace(entries["mca.low-income"], sharing="not-shared")
    d.matcher.catalog.publish(
        *CatalogSigners(d.root, ca=d.ca).publication(Catalog("2024.1", entries), ["mca"]), note="withdrawn for review"
    )

    diff = catalog_stub(d, "mca").DiffVersions(
        catalog_pb2.DiffCatalogRequest(old_version="2023.1", new_version="2024.1")
    )
    assert [(c.entry_id, c.kind) for c in diff.changes] == [("mca.low-income", "changed")]
    assert diff.changes[0].changes[0].new_value == "not-shared"

    with pytest.raises(grpc.RpcError) as err:
        compare(d)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "mca.low-income is 'not shared' in catalog version 2024.1" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:  # nor uploaded under the version that says so
        submit_rows(
            d.nodes["mca"].stub,
            gateway_pb2.SubmitHeader(
                dataset="low-income", catalog_entry="mca.low-income", catalog_version="2024.1", attributes=MCA_ATTRS
            ),
            extracts["mca"].rows[:5],
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    last = [e for e in d.audit_entries() if e.method == "/aidlink.v1.Matcher/CompareDatasets"][-1]
    assert last.outcome == "refused" and "not shared" in last.detail
