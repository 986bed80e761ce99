"""A matcher restarted on the same PostgreSQL database continues with no loss: datasets
(metadata in the database, encodings in the data directory's files), warnings and their
history, disputes and the catalog, and the audit log, which verifies across the restart."""

from __future__ import annotations

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import DEPARTMENTS, department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import common_pb2, gateway_pb2, matcher_pb2, matcher_pb2_grpc, monitoring_pb2_grpc
from aidlink.v1 import monitoring_pb2 as pb
from tests.support.postgres import postgres_unreachable, scratch_schema

_UNREACHABLE = postgres_unreachable()


def matcher_stub(d: LoopbackDeployment, dept: str) -> tuple[grpc.Channel, matcher_pb2_grpc.MatcherStub]:
    directory = d.nodes[dept].directory
    creds = grpc.ssl_channel_credentials(
        d.ca.cert_pem, (directory / "node.key").read_bytes(), (directory / "node.crt").read_bytes()
    )
    channel = grpc.secure_channel(d.matcher.address, creds)
    return channel, matcher_pb2_grpc.MatcherStub(channel)


def snapshot(d: LoopbackDeployment) -> dict:
    channel, stub = matcher_stub(d, "mca")
    with channel:
        datasets = sorted(
            (x.dataset, x.version, x.records) for x in stub.ListDatasets(matcher_pb2.ListDatasetsRequest()).datasets
        )
    mca = monitoring_pb2_grpc.MonitoringGatewayStub(d.nodes["mca"].channel)
    warnings = {
        w.warning.id: (w.warning.status, w.warning.cluster_id, w.warning.assignee)
        for w in mca.ListWarnings(pb.WarningQuery(limit=10000)).warnings
    }
    events = list(
        d.nodes["edu"].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(
                my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
            )
        )
    )
    matches = sorted((m.record_id, round(m.score, 6)) for e in events for m in local_matches(e))
    return {"datasets": datasets, "warnings": warnings, "matches": matches}


@pytest.mark.slow
def test_matcher_restarted_on_the_same_postgresql_database_loses_nothing(tmp_path):
    if _UNREACHABLE:
        pytest.skip(_UNREACHABLE)
    population = SyntheticPopulation.generate(300, seed=17)
    extracts = {dept: department_extract(population, dept, seed=17) for dept in DEPARTMENTS}
    catalog = Catalog.load()
    with scratch_schema() as url, LoopbackDeployment(tmp_path, departments=tuple(DEPARTMENTS), database_url=url) as d:
        for entry in catalog.entries.values():
            ex = extracts[entry.provider]
            submit_rows(
                d.nodes[entry.provider].stub,
                gateway_pb2.SubmitHeader(
                    dataset=entry.id.split(".", 1)[1],
                    catalog_entry=entry.id,
                    catalog_version=catalog.version,
                    attributes=[a for a in entry.attributes if a in ex.columns or a == "school_age"],
                ),
                ex.rows,
            )
        mca = monitoring_pb2_grpc.MonitoringGatewayStub(d.nodes["mca"].channel)
        mca.RebuildGraph(pb.RebuildGraphRequest())
        first = mca.ListWarnings(pb.WarningQuery(statuses=["new"])).warnings[0].warning.id
        mca.ChangeWarning(pb.WarningChange(id=first, status="assigned", assignee="county office"))
        before = snapshot(d)
        assert before["datasets"] and before["warnings"] and before["matches"]
        assert before["warnings"][first][0] == "assigned"
        entries_before = d.audit_entries()

        # The state is in PostgreSQL: the data directory holds only the encodings' files.
        data_dir = d.matcher.config.data_dir
        assert not [p.name for p in data_dir.rglob("*.sqlite")]
        assert list(data_dir.glob("encodings/*/*.bin"))

        old = d.matcher
        cfg = old.config
        old.stop(grace=1)
        d.matcher = MatcherServer(
            MatcherConfig(
                data_dir=cfg.data_dir,
                listen=f"127.0.0.1:{old.port}",
                tls=cfg.tls,
                audit_key=cfg.audit_key,
                audit_origin=cfg.audit_origin,
                database_url=url,
            )
        ).start()

        after = snapshot(d)
        assert after == before  # datasets, warnings, match results
        channel, _ = matcher_stub(d, "mca")
        with channel:
            detail = monitoring_pb2_grpc.MonitoringStub(channel).GetWarning(pb.GetWarningRequest(id=first))
        assert [h.to_status for h in detail.history] == ["new", "assigned"]
        entries_after = d.audit_entries()  # verifies across the restart
        assert entries_after[: len(entries_before)] == entries_before
        assert len(entries_after) > len(entries_before)
        assert [e.seq for e in entries_after] == list(range(len(entries_after)))
