"""A flag is a status query in disguise, so it passes the same checks. After the provider
withdraws sharing (a new catalog version marks its entry 'not shared'), a department that
tries to learn through `Flag` whether one of its records matches the provider's data is
refused over mTLS, the same way for a record that matches and one that does not, nothing is
recorded or sent to the provider, and each try is audited."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.disputes import NodeDisputes
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.catalog import Catalog
from aidlink.v1 import common_pb2, disputes_pb2_grpc, gateway_pb2
from tests.support.catalog_signing import CatalogSigners

FLAG = "/aidlink.v1.Disputes/Flag"
ELIGIBILITY = common_pb2.ELIGIBILITY_CHECK


def desk(d, dept: str) -> NodeDisputes:
    server = d.nodes[dept].server
    return NodeDisputes(
        server.node, disputes_pb2_grpc.DisputesStub(server.channel), server.refs, d.nodes[dept].directory / "state"
    )


def test_flag_is_refused_once_the_provider_withdraws_sharing(tmp_path, matcher_database_url):
    population = SyntheticPopulation.generate(2000, seed=12)
    extracts = {d: department_extract(population, d, seed=12) for d in ("mca", "edu")}
    with LoopbackDeployment(tmp_path, departments=("mca", "edu"), database_url=matcher_database_url) as d:
        submit_rows(
            d.nodes["mca"].stub,
            gateway_pb2.SubmitHeader(
                dataset="low-income",
                catalog_entry="mca.low-income",
                catalog_version="2023.1",
                attributes=["category", "dispersed", "school_age"],
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
        events = d.nodes["edu"].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(
                my_dataset="students", other_dataset="mca/low-income", purpose=ELIGIBILITY
            )
        )
        matched = sorted(m.record_id for e in events for m in local_matches(e))
        unmatched = sorted(set(extracts["edu"].truth) - set(matched))
        assert len(matched) >= 2 and unmatched
        edu, mca = desk(d, "edu"), desk(d, "mca")

        # While the entry is shared, a matched record can be flagged (the control).
        assert edu.flag("students", matched[0], "mca/low-income", ELIGIBILITY, "income changed").state == "open"
        assert [e.kind for e in mca.inbox()] == ["flagged"]

        entries = dict(Catalog.load().entries)
        entries["mca.low-income"] = dataclasses.replace(entries["mca.low-income"], sharing="not-shared")
        d.matcher.catalog.publish(
            *CatalogSigners(d.root, ca=d.ca).publication(Catalog("2024.1", entries), ["mca"]), note="sharing withdrawn"
        )

        details = []
        for record_id in (matched[1], unmatched[0]):  # one that matches, one that does not
            with pytest.raises(grpc.RpcError) as err:
                edu.flag("students", record_id, "mca/low-income", ELIGIBILITY, "is this one in your data?")
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            details.append(err.value.details())
        assert "mca.low-income is 'not shared' in catalog version 2024.1" in details[0]
        assert details[0] == details[1]  # the refusal says nothing about the record
        assert len(d.matcher.disputes.list("edu", role="flagged")) == 1
        assert mca.inbox() == []  # nothing reached the provider
    flags = [(e.department, e.outcome, e.status) for e in d.audit_entries() if e.method == FLAG]
    assert flags == [("edu", "allowed", "OK")] + [("edu", "refused", "PERMISSION_DENIED")] * 2
