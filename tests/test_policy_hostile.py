"""The policy gate against hostile departments, over real mTLS on loopback (issue 13).

Each case is what a department holding a valid node certificate tried on the old
matcher: a probe encoding to pull every provider record at a tiny threshold, a
self-declared purpose to escape an agreement's record filter, repeated calls to
harvest a provider's dataset. Each is refused with a message naming the rule, and
each refusal is in the audit log; volume-limit refusals are flagged in the
officer's report. The offline bundle path goes through the same gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import pytest

from aidlink.audit.report import build_report
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.bundle import BundleLedger, export_dataset_bundle, read_result_bundle
from aidlink.gateway.client import submit_rows
from aidlink.gateway.match_batches import local_matches, remote_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.matcher.bundle_import import BundleImporter
from aidlink.v1 import bundle_pb2, common_pb2, gateway_pb2, matcher_pb2, matcher_pb2_grpc

LOW_INCOME = ("dibao", "tekun", "bianyuan", "zhichu")
MCA_ATTRS = ["category", "dispersed", "school_age"]
COMPARE = "/aidlink.v1.Matcher/CompareDatasets"
STATUS = "/aidlink.v1.Matcher/QueryStatus"


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("hostile")
    population = SyntheticPopulation.generate(3000, seed=17)
    extracts = {d: department_extract(population, d, seed=17) for d in ("mca", "edu", "nhsa")}
    with LoopbackDeployment(
        root, departments=("mca", "edu", "nhsa", "hrss"), database_url=matcher_database_url
    ) as deployment:
        for dept, dataset, entry, attrs in (
            ("mca", "low-income", "mca.low-income", MCA_ATTRS),
            ("edu", "students", "edu.students", ["school_stage", "assistance"]),
            ("nhsa", "medical", "nhsa.medical", ["serious_illness", "high_cost", "medical_assistance"]),
        ):
            summary = submit_rows(
                deployment.nodes[dept].stub,
                gateway_pb2.SubmitHeader(
                    dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs
                ),
                extracts[dept].rows,
            )
            assert summary.uploaded == summary.rows  # every real record passes the probe rule
        yield deployment, extracts


def matcher_stub(deployment, dept):
    """A department's own channel to the matcher, with its node certificate (what a hostile
    department would use instead of its gateway node)."""
    d = deployment.nodes[dept].directory
    creds = grpc.ssl_channel_credentials(
        (d / "ca.crt").read_bytes(), (d / "node.key").read_bytes(), (d / "node.crt").read_bytes()
    )
    channel = grpc.secure_channel(deployment.matcher.address, creds)
    return channel, matcher_pb2_grpc.MatcherStub(channel)


def upload_raw(stub, info, dataset, encodings):
    chunks = [
        matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=dataset,
                catalog_entry="mca.low-income",
                catalog_version="2023.1",
                encoding=info,
                attributes=["category"],
            )
        ),
        matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(
                records=[
                    matcher_pb2.EncodedRecord(ref=f"probe-{i}", encoding=e, attributes={"category": "dibao"})
                    for i, e in enumerate(encodings)
                ]
            )
        ),
    ]
    return stub.UploadDataset(iter(chunks))


def compare_events(stub, mine, other, purpose, **kw):
    return list(
        stub.CompareDatasets(matcher_pb2.CompareRequest(my_dataset=mine, other_dataset=other, purpose=purpose, **kw))
    )


def node_compare(deployment, dept, mine, other, purpose):
    events = list(
        deployment.nodes[dept].stub.CompareDataset(
            gateway_pb2.GatewayCompareRequest(my_dataset=mine, other_dataset=other, purpose=purpose)
        )
    )
    return [m for e in events for m in local_matches(e)]


def last_entry(deployment, method, department):
    return [e for e in deployment.audit_entries() if e.method == method and e.department == department][-1]


def refused(call):
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value


# -- bulk extraction with a probe ----------------------------------------------------------------


def test_a_probe_encoding_is_refused_at_upload_naming_the_record(world):
    deployment, _ = world
    info = deployment.nodes["mca"].server.node.encoding_info
    channel, stub = matcher_stub(deployment, "mca")
    with channel:
        summary = upload_raw(stub, info, "probe", [b"\xff" * (info.bits // 8)])
    assert summary.accepted == 0 and summary.rejected_count == 1
    [problem] = summary.rejected
    assert (problem.index, problem.ref, problem.field) == (0, "probe-0", "encoding")
    assert problem.reason.startswith("probe refused: record 0 (ref 'probe-0') is all ones")
    entry = last_entry(deployment, "/aidlink.v1.Matcher/UploadDataset", "mca")
    assert entry.counts["rejected"] == 1 and entry.counts["accepted"] == 0
    # the audit entry names the rule that refused the record, for the officer reviewing it
    assert entry.detail.startswith("records refused: encoding x1 (first: record 0, ref probe-0: probe refused:")


def test_a_probe_status_query_is_refused_naming_the_rule(world):
    deployment, _ = world
    info = deployment.nodes["mca"].server.node.encoding_info
    channel, stub = matcher_stub(deployment, "mca")
    with channel:
        for probe in (b"\xff" * (info.bits // 8), bytes(info.bits // 8)):
            err = refused(
                lambda probe=probe: stub.QueryStatus(
                    matcher_pb2.StatusQuery(
                        dataset="nhsa/medical", encoding=probe, encoding_info=info, purpose=common_pb2.RISK_MONITORING
                    )
                )
            )
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.details().startswith("probe refused: the queried encoding is all ")
            entry = last_entry(deployment, STATUS, "mca")
            assert (entry.outcome, entry.status, entry.detail) == ("refused", "INVALID_ARGUMENT", err.details())


def test_a_tiny_threshold_is_refused_naming_the_floor(world):
    deployment, _ = world
    info = deployment.nodes["mca"].server.node.encoding_info
    channel, stub = matcher_stub(deployment, "mca")
    with channel:
        for threshold in (0.01, 1e-9, 0.69):
            err = refused(
                lambda threshold=threshold: compare_events(
                    stub, "low-income", "nhsa/medical", common_pb2.RISK_MONITORING, threshold=threshold, all_pairs=True
                )
            )
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.details().startswith(f"threshold floor: {threshold:g} is below 0.7")
            entry = last_entry(deployment, COMPARE, "mca")
            assert (entry.outcome, entry.status, entry.detail) == ("refused", "INVALID_ARGUMENT", err.details())
        one = matcher_pb2.StatusQuery(
            dataset="nhsa/medical",
            encoding=bytes([0b00100101]) * (info.bits // 8),
            encoding_info=info,
            purpose=common_pb2.RISK_MONITORING,
            threshold=0.01,
        )
        err = refused(lambda: stub.QueryStatus(one))
        assert err.details().startswith("threshold floor: 0.01 is below 0.7")
        assert last_entry(deployment, STATUS, "mca").detail == err.details()


def test_the_densest_plausible_probe_finds_no_one_at_the_floor(world):
    deployment, _ = world
    info = deployment.nodes["mca"].server.node.encoding_info
    rng = np.random.default_rng(1)  # 560 of 1024 bits set: just inside the plausible band (55%)
    dense = np.packbits([rng.permutation(info.bits) < 560 for _ in range(20)], axis=1)
    channel, stub = matcher_stub(deployment, "mca")
    with channel:
        assert upload_raw(stub, info, "dense-probe", [row.tobytes() for row in dense]).accepted == 20
        events = compare_events(
            stub, "dense-probe", "nhsa/medical", common_pb2.RISK_MONITORING, threshold=0.7, all_pairs=True
        )
    assert not [m for e in events for m in remote_matches(e)]


# -- purpose ------------------------------------------------------------------------------------------


def test_the_referral_purpose_is_refused_in_compare_and_status(world):
    deployment, extracts = world
    err = refused(lambda: node_compare(deployment, "edu", "students", "mca/low-income", common_pb2.REFERRAL))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (
        "purpose: 'referral' is refused in compare: the referral purpose is usable only inside the "
        "referral workflow, for a warning that exists"
    ) in err.details()
    entry = last_entry(deployment, COMPARE, "edu")
    assert (entry.outcome, entry.purpose) == ("refused", "referral") and entry.detail.startswith("purpose: ")
    info = deployment.nodes["edu"].server.node.encoding_info
    channel, stub = matcher_stub(deployment, "edu")
    with channel:
        err = refused(
            lambda: stub.QueryStatus(
                matcher_pb2.StatusQuery(
                    dataset="mca/low-income",
                    encoding=bytes([0b00100101]) * (info.bits // 8),
                    encoding_info=info,
                    purpose=common_pb2.REFERRAL,
                )
            )
        )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and err.details().startswith("purpose: 'referral'")
    assert last_entry(deployment, STATUS, "edu").detail == err.details()


def test_no_purpose_shows_edu_more_than_its_agreement_filter_admits(world):
    deployment, extracts = world
    store = deployment.matcher.store
    mca = store.load(store.latest("mca", "low-income"))
    # Art. 14(1): only school-age persons of low-income households take part (independent of the code).
    admitted = sum(a.get("category") in LOW_INCOME and a.get("school_age") == "yes" for a in mca.attributes)
    assert 0 < admitted < len(mca.attributes) / 2
    eligible = {
        m.record_id for m in node_compare(deployment, "edu", "students", "mca/low-income", common_pb2.ELIGIBILITY_CHECK)
    }
    assert 0 < len(eligible) <= admitted
    for name, purpose in common_pb2.Purpose.items():
        if purpose == common_pb2.PURPOSE_UNSPECIFIED:
            continue
        try:
            matches = node_compare(deployment, "edu", "students", "mca/low-income", purpose)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED, name
            continue
        assert {m.record_id for m in matches} <= eligible, name
        entry = last_entry(deployment, COMPARE, "edu")
        assert entry.agreement == "art14-1a.mca-to-edu" and entry.counts["other_records"] == admitted, name


# -- volume ---------------------------------------------------------------------------------------------


def test_harvesting_a_provider_is_refused_audited_and_reported(world):
    deployment, extracts = world
    started = datetime.now(UTC) - timedelta(minutes=1)
    # hrss holds copies of mca's low-income persons (what a department harvesting mca would upload).
    rows = [r for r in extracts["mca"].rows if r["category"] in LOW_INCOME]
    assert len(rows) > 200
    hrss = deployment.nodes["hrss"].stub

    def upload(name, part):
        summary = submit_rows(
            hrss,
            gateway_pb2.SubmitHeader(dataset=name, catalog_entry="hrss.employment", catalog_version="2023.1"),
            part,
        )
        assert summary.uploaded == len(part)

    def compare(name):
        return node_compare(deployment, "hrss", name, "mca/low-income", common_pb2.ELIGIBILITY_CHECK)

    upload("everyone", rows)
    err = refused(lambda: compare("everyone"))  # one call: every admitted record
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "volume limit: this call would reveal" in err.details()
    assert "agreement art14-2a.mca-to-hrss" in err.details() and "allows 50%" in err.details()

    forty = int(len(rows) * 0.4)
    upload("first", rows[:forty])
    assert len(compare("first")) >= 0.95 * forty  # a legitimate share passes
    assert len(compare("first")) >= 0.95 * forty  # and may be asked again: nothing new is revealed
    upload("second", rows[forty : 2 * forty])
    err = refused(lambda: compare("second"))  # the next 40% in the same period
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "volume limit: with this call hrss would have been shown" in err.details()
    assert "allows 60%" in err.details() and "per 30 days" in err.details()

    entries = [e for e in deployment.audit_entries() if e.method == COMPARE and e.department == "hrss"]
    assert [(e.outcome, e.status) for e in entries] == [
        ("refused", "RESOURCE_EXHAUSTED"),
        ("allowed", "OK"),
        ("allowed", "OK"),
        ("refused", "RESOURCE_EXHAUSTED"),
    ]
    for e in (entries[0], entries[-1]):
        assert e.detail.startswith("volume limit: ") and e.agreement == "art14-2a.mca-to-hrss"

    store = deployment.open_audit_store()
    try:
        report = build_report(store, started, datetime.now(UTC) + timedelta(minutes=1))
    finally:
        store.close()
    [flagged] = report.volume_refusals
    assert (flagged.department, flagged.agreement, flagged.count) == ("hrss", "art14-2a.mca-to-hrss", 2)
    from aidlink.audit.cli import report_text

    text = report_text(report)
    assert "Departments refused by a volume limit (1):" in text
    assert any(line.split()[:3] == ["hrss", "art14-2a.mca-to-hrss", "2"] for line in text.splitlines())


# -- the offline path passes the same gate -------------------------------------------------------


def test_a_bundle_is_held_to_the_same_rules(world):
    deployment, extracts = world
    tls = deployment.root / "matcher" / "tls"
    importer = BundleImporter(
        deployment.matcher.exchange,
        deployment.matcher.audit_log,
        BundleLedger(deployment.matcher.config.data_dir / "bundles.sqlite"),
        key_pem=(tls / "matcher.key").read_bytes(),
        cert_pem=(tls / "matcher.crt").read_bytes(),
        ca_cert_pem=deployment.ca.cert_pem,
        crl_pem=lambda: deployment.ca.crl_pem(),
    )
    directory = deployment.nodes["edu"].directory
    key, cert = (directory / "node.key").read_bytes(), (directory / "node.crt").read_bytes()
    asks = [
        bundle_pb2.BundleCompareRequest(
            other_dataset="mca/low-income", purpose="eligibility-check", threshold=0.01, all_pairs=True
        ),
        bundle_pb2.BundleCompareRequest(other_dataset="mca/low-income", purpose="referral"),
    ]
    exported = export_dataset_bundle(
        deployment.nodes["edu"].server.node,
        "students-offline",
        "edu.students",
        "2023.1",
        extracts["edu"].rows,
        attributes=["school_stage", "assistance"],
        key_pem=key,
        cert_pem=cert,
        matcher_cert_pem=(tls / "matcher.crt").read_bytes(),
        compare=asks,
    )
    outcome = importer.import_bundle(exported.blob)
    results = read_result_bundle(
        outcome.result_blob,
        refs=deployment.nodes["edu"].server.refs,
        key_pem=key,
        cert_pem=cert,
        ca_cert_pem=deployment.ca.cert_pem,
        ledger=BundleLedger(directory / "state" / "bundles.sqlite"),
    )
    floor, referral = results.comparisons
    assert floor.summary is None and floor.refused.startswith("INVALID_ARGUMENT: threshold floor: 0.01")
    assert referral.summary is None and referral.refused.startswith("PERMISSION_DENIED: purpose: 'referral'")
    audited = [
        e
        for e in deployment.audit_entries()
        if e.method == "offline/compare" and f"bundle:{exported.bundle_id}" in e.datasets
    ]
    assert [(e.outcome, e.detail.split(":")[0]) for e in audited] == [
        ("refused", "threshold floor"),
        ("refused", "purpose"),
    ]
