"""Offline and online give the same answer. The same department data goes to the matcher
online (the edu node's submit over mTLS) and offline (`aidlink gateway export-bundle`, then
`aidlink matcher import-bundle` with the matcher stopped, which builds the matcher core from
the same settings), against the same provider dataset: the same matches and scores, blocking
used on both (the same candidate pairs, far fewer than all pairs), a provider record under an
open dispute marked disputed on both, and the same audit outcome classes for an allowed and
for a refused comparison."""

from __future__ import annotations

import grpc
import pytest

from aidlink.cli.main import main
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.bundle import read_result_bundle
from aidlink.gateway.client import submit_rows
from aidlink.gateway.disputes import NodeDisputes
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.refs import ReferenceMap
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.v1 import common_pb2, disputes_pb2_grpc, gateway_pb2

STUDENT_ATTRS = ["school_stage", "assistance"]
COMPARE = "/aidlink.v1.Matcher/CompareDatasets"


def online_compare(d, purpose) -> dict[str, tuple[float, dict, bool]]:
    events = d.nodes["edu"].stub.CompareDataset(
        gateway_pb2.GatewayCompareRequest(my_dataset="students", other_dataset="mca/low-income", purpose=purpose)
    )
    return {m.record_id: (round(m.score, 9), dict(m.attributes), m.disputed) for e in events for m in local_matches(e)}


@pytest.fixture(scope="module")
def both_paths(tmp_path_factory, matcher_database_url):
    """(online results, offline results, matcher audit entries) for one population."""
    root = tmp_path_factory.mktemp("parity")
    population = SyntheticPopulation.generate(4000, seed=31)
    extracts = {d: department_extract(population, d, seed=31) for d in ("mca", "edu")}
    students_csv = root / "students.csv"
    extracts["edu"].write_csv(students_csv)
    with LoopbackDeployment(root / "world", departments=("mca", "edu"), database_url=matcher_database_url) as d:
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
                dataset="students", catalog_entry="edu.students", catalog_version="2023.1", attributes=STUDENT_ATTRS
            ),
            extracts["edu"].rows,
        )
        before = online_compare(d, common_pb2.ELIGIBILITY_CHECK)
        doubted = sorted(before)[0]
        edu = d.nodes["edu"]
        NodeDisputes(
            edu.server.node,
            disputes_pb2_grpc.DisputesStub(edu.server.channel),
            edu.server.refs,
            edu.directory / "state",
        ).flag("students", doubted, "mca/low-income", common_pb2.ELIGIBILITY_CHECK, "the family's income changed")
        online = online_compare(d, common_pb2.ELIGIBILITY_CHECK)
        with pytest.raises(grpc.RpcError) as refused:  # edu may not compare for risk monitoring
            online_compare(d, common_pb2.RISK_MONITORING)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        tls, data_dir, edu_dir = d.root / "matcher" / "tls", d.matcher.config.data_dir, edu.directory
        audit_key = d.audit_key_path
    # The matcher is stopped; the department's bundle travels on removable media.
    bundle, result = root / "edu.bundle", root / "edu.result"
    assert (
        main(
            [
                "gateway",
                "export-bundle",
                str(students_csv),
                "--department",
                "edu",
                "--node-dir",
                str(edu_dir),
                "--matcher-cert",
                str(tls / "matcher.crt"),
                "--dataset",
                "students-offline",
                "--catalog-entry",
                "edu.students",
                "--attribute",
                "school_stage",
                "--attribute",
                "assistance",
                "--compare",
                "mca/low-income:eligibility-check",
                "--compare",
                "mca/low-income:risk-monitoring",
                "--allow-unknown-columns",
                "-o",
                str(bundle),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "matcher",
                "import-bundle",
                str(bundle),
                "--data-dir",
                str(data_dir),
                "--tls-dir",
                str(tls),
                "--audit-key",
                str(audit_key),
                "-o",
                str(result),
            ]
            + (["--database-url", matcher_database_url] if matcher_database_url else [])
        )
        == 0
    )
    refs = ReferenceMap(edu_dir / "state" / "references.sqlite")
    try:
        offline = read_result_bundle(
            result.read_bytes(),
            refs=refs,
            key_pem=(edu_dir / "node.key").read_bytes(),
            cert_pem=(edu_dir / "node.crt").read_bytes(),
            ca_cert_pem=(edu_dir / "ca.crt").read_bytes(),
        )
    finally:
        refs.close()
    entries = d.audit_entries()
    return doubted, online, offline, entries


def test_offline_and_online_give_the_same_matches_scores_and_dispute_marks(both_paths):
    doubted, online, offline, _ = both_paths
    eligible, _ = offline.comparisons
    assert eligible.summary is not None and eligible.summary.agreement == "art14-1a.mca-to-edu"
    offline_matches = {m.record_id: (round(m.score, 9), m.attributes, m.disputed) for m in eligible.matches}
    assert len(online) >= 10
    assert offline_matches == online
    # The provider record under an open dispute is marked on both paths, and only it.
    assert {rid for rid, (_, _, disputed) in online.items() if disputed} == {doubted}
    assert {rid for rid, (_, _, disputed) in offline_matches.items() if disputed} == {doubted}


def test_both_paths_use_blocking_on_the_same_candidate_pairs(both_paths):
    _, online, offline, entries = both_paths
    online_entry = [e for e in entries if e.method == COMPARE and e.outcome == "allowed"][-1]
    offline_entry = next(e for e in entries if e.method == "offline/compare" and e.outcome == "allowed")
    for entry in (online_entry, offline_entry):
        counts = entry.counts
        assert counts["blocked"] == 1
        assert counts["comparisons"] < counts["my_records"] * counts["other_records"] / 10
        assert counts["matches"] == len(online)
    assert offline_entry.counts == online_entry.counts  # same records, same blocking keys, same pairs
    assert offline.comparisons[0].summary.comparisons == online_entry.counts["comparisons"]


def test_an_allowed_and_a_refused_comparison_are_audited_in_the_same_classes(both_paths):
    _, _, offline, entries = both_paths
    refused = offline.comparisons[1]
    assert refused.summary is None and refused.refused.startswith("PERMISSION_DENIED")
    online = [(e.purpose, e.outcome, e.status) for e in entries if e.method == COMPARE]
    offline_classes = [(e.purpose, e.outcome, e.status) for e in entries if e.method == "offline/compare"]
    assert offline_classes == [
        ("eligibility-check", "allowed", "OK"),
        ("risk-monitoring", "refused", "PERMISSION_DENIED"),
    ]
    assert online[-2:] == offline_classes
