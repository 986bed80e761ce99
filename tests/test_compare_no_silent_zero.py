"""No silent zero (issue 16): a compare whose agreement filters the provider's records on an
attribute the provider never uploaded, or whose filter admits none of them, is refused with a
message naming the attribute, the agreement and the provider — never answered "0 of N" — and the
refusal is audited. Over real mTLS on loopback, as the department would meet it."""

from __future__ import annotations

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.v1 import common_pb2, gateway_pb2

COMPARE = "/aidlink.v1.Matcher/CompareDatasets"


def _upload(deployment, dept, dataset, entry, attrs, rows):
    header = gateway_pb2.SubmitHeader(dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs)
    return submit_rows(deployment.nodes[dept].stub, header, rows)


def _compare(deployment, purpose=common_pb2.ELIGIBILITY_CHECK, other="mca/low-income"):
    request = gateway_pb2.GatewayCompareRequest(my_dataset="students", other_dataset=other, purpose=purpose)
    return list(deployment.nodes["edu"].stub.CompareDataset(request))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    population = SyntheticPopulation.generate(1500, seed=23)
    extracts = {d: department_extract(population, d, seed=23) for d in ("mca", "edu")}
    with LoopbackDeployment(tmp_path_factory.mktemp("zero"), departments=("mca", "edu")) as deployment:
        _upload(deployment, "edu", "students", "edu.students", ["school_stage", "assistance"], extracts["edu"].rows)
        yield deployment, extracts


def test_a_filter_on_an_attribute_never_uploaded_names_it_and_the_provider(world):
    deployment, extracts = world
    # mca forgets --attribute school_age: Art. 14(1)'s agreement selects records by it
    _upload(deployment, "mca", "low-income", "mca.low-income", ["category"], extracts["mca"].rows)
    before = len(deployment.audit_entries())
    with pytest.raises(grpc.RpcError) as err:
        _compare(deployment)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    message = err.value.details()
    assert "school_age" in message and "mca did not upload" in message and "art14-1a.mca-to-edu" in message
    assert "--attribute school_age" in message  # what to do about it
    refused = [e for e in deployment.audit_entries()[before:] if e.method == COMPARE]
    assert [e.outcome for e in refused] == ["refused"] and "school_age" in refused[0].detail


def test_once_uploaded_with_the_attribute_the_same_compare_matches(world):
    deployment, extracts = world
    _upload(deployment, "mca", "low-income", "mca.low-income", ["category", "school_age"], extracts["mca"].rows)
    events = _compare(deployment)
    summary = events[-1].summary
    assert summary.matches > 0 and summary.agreement == "art14-1a.mca-to-edu"


def test_a_filter_that_admits_no_record_says_so(world):
    deployment, extracts = world
    # every record uploaded as not school-age: the attribute is there, the filter admits none
    rows = [{**r, "school_age": "no"} for r in extracts["mca"].rows]
    _upload(deployment, "mca", "low-income", "mca.low-income", ["category", "school_age"], rows)
    with pytest.raises(grpc.RpcError) as err:
        _compare(deployment)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    message = err.value.details()
    assert f"admits none of the {len(rows)} records of mca/low-income" in message
    assert "school_age in {yes}" in message  # the filter, as a person reads it
