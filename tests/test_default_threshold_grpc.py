"""A compare over real mTLS gRPC that names no threshold runs at the calibrated threshold of the
datasets' linkage schema (v2: 0.72), and says so in its summary."""

from __future__ import annotations

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.schema_policies import V2_CALIBRATED_THRESHOLD
from aidlink.v1 import common_pb2, gateway_pb2


def test_a_compare_without_a_threshold_uses_the_schemas_calibrated_one(tmp_path, matcher_database_url):
    population = SyntheticPopulation.generate(300, seed=3)
    extracts = {d: department_extract(population, d, seed=3) for d in ("mca", "edu")}
    with LoopbackDeployment(tmp_path, departments=("mca", "edu"), database_url=matcher_database_url) as d:
        submit_rows(
            d.nodes["mca"].stub,
            gateway_pb2.SubmitHeader(
                dataset="low-income",
                catalog_entry="mca.low-income",
                catalog_version="2023.1",
                attributes=["category", "dispersed", "school_age", "household"],
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
        events = list(
            d.nodes["edu"].stub.CompareDataset(
                gateway_pb2.GatewayCompareRequest(
                    my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
                )
            )
        )
    summaries = [e.summary for e in events if e.WhichOneof("event") == "summary"]
    matches = [m for e in events if e.WhichOneof("event") == "matches" for m in local_matches(e)]
    assert len(summaries) == 1 and summaries[0].threshold == V2_CALIBRATED_THRESHOLD
    assert matches and min(m.score for m in matches) >= V2_CALIBRATED_THRESHOLD
