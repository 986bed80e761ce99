"""Offline exchange on removable media (Art. 10): a department's encodings travel in a
bundle encrypted to the matcher and signed by the node; results come back the same way
and equal the online path's; bad bundles are refused with a clear reason and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.bundle import BundleError, BundleLedger, export_dataset_bundle, read_result_bundle, seal_bundle
from aidlink.gateway.client import submit_rows
from aidlink.gateway.match_batches import local_matches
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.keys.authority import CertificateAuthority
from aidlink.matcher.bundle_import import BundleImporter, BundleRefused
from aidlink.v1 import bundle_pb2, common_pb2, gateway_pb2

STUDENT_ATTRS = ["school_stage", "assistance"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, matcher_database_url):
    root = tmp_path_factory.mktemp("bundles")
    population = SyntheticPopulation.generate(600, seed=8)
    extracts = {d: department_extract(population, d, seed=8) for d in ("mca", "edu")}
    with LoopbackDeployment(root, departments=("mca", "edu"), database_url=matcher_database_url) as d:
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
        tls = d.root / "matcher" / "tls"
        importer = BundleImporter(
            d.matcher.exchange,
            d.matcher.audit_log,
            BundleLedger(d.matcher.config.data_dir / "bundles.sqlite"),
            key_pem=(tls / "matcher.key").read_bytes(),
            cert_pem=(tls / "matcher.crt").read_bytes(),
            ca_cert_pem=d.ca.cert_pem,
            crl_pem=lambda: d.ca.crl_pem(),
        )
        yield d, extracts, importer


def node_files(d, dept):
    directory = d.nodes[dept].directory
    return (directory / "node.key").read_bytes(), (directory / "node.crt").read_bytes()


def export(d, extracts, dataset, **kw):
    key, cert = node_files(d, "edu")
    return export_dataset_bundle(
        d.nodes["edu"].server.node,
        dataset,
        "edu.students",
        "2023.1",
        extracts["edu"].rows,
        attributes=STUDENT_ATTRS,
        key_pem=key,
        cert_pem=cert,
        matcher_cert_pem=(d.root / "matcher" / "tls" / "matcher.crt").read_bytes(),
        compare=[
            bundle_pb2.BundleCompareRequest(other_dataset="mca/low-income", purpose="eligibility-check"),
            bundle_pb2.BundleCompareRequest(other_dataset="mca/low-income", purpose="risk-monitoring"),
        ],
        **kw,
    )


def import_entries(d):
    store = d.open_audit_store()
    try:
        return [row.entry for row in store.scan() if row.entry.method.startswith("offline/")]
    finally:
        store.close()


def test_bundle_round_trip_equals_online_results(world):
    d, extracts, importer = world
    submit_rows(
        d.nodes["edu"].stub,
        gateway_pb2.SubmitHeader(
            dataset="students", catalog_entry="edu.students", catalog_version="2023.1", attributes=STUDENT_ATTRS
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
    online = {m.record_id: (round(m.score, 9), dict(m.attributes)) for e in events for m in local_matches(e)}
    assert online

    exported = export(d, extracts, "students-offline")
    assert exported.records > 0.95 * exported.rows
    assert b"rec_id" not in exported.blob and extracts["edu"].rows[0]["name"].encode() not in exported.blob
    outcome = importer.import_bundle(exported.blob)
    assert outcome.department == "edu" and outcome.upload.accepted == exported.records
    assert outcome.upload.dataset == "edu/students-offline"

    key, cert = node_files(d, "edu")
    ledger = BundleLedger(d.nodes["edu"].directory / "state" / "bundles.sqlite")
    results = read_result_bundle(
        outcome.result_blob,
        refs=d.nodes["edu"].server.refs,
        key_pem=key,
        cert_pem=cert,
        ca_cert_pem=d.ca.cert_pem,
        ledger=ledger,
    )
    assert results.in_reply_to == exported.bundle_id
    eligible, risk = results.comparisons
    assert eligible.summary.agreement == "art14-1a.mca-to-edu" and "not legal data" in eligible.summary.notice.text
    offline = {m.record_id: (round(m.score, 9), m.attributes) for m in eligible.matches}
    assert offline == online
    # A purpose the agreement does not allow is refused inside the result, as online.
    assert risk.summary is None and risk.refused.startswith("PERMISSION_DENIED") and "risk-monitoring" in risk.refused
    with pytest.raises(BundleError, match="already"):  # the result bundle is read once too
        read_result_bundle(
            outcome.result_blob,
            refs=d.nodes["edu"].server.refs,
            key_pem=key,
            cert_pem=cert,
            ca_cert_pem=d.ca.cert_pem,
            ledger=ledger,
        )

    entries = import_entries(d)
    imported = [e for e in entries if e.method == "offline/import-bundle" and e.outcome == "allowed"]
    assert imported[-1].department == "edu" and f"bundle:{exported.bundle_id}" in imported[-1].datasets
    assert imported[-1].counts["accepted"] == exported.records
    compares = [e for e in entries if e.method == "offline/compare" and f"bundle:{exported.bundle_id}" in e.datasets]
    assert [(e.outcome, e.purpose) for e in compares] == [
        ("allowed", "eligibility-check"),
        ("refused", "risk-monitoring"),
    ]
    assert compares[0].agreement == "art14-1a.mca-to-edu" and compares[0].counts["matches"] == len(online)


def test_bad_bundles_are_refused_with_reason_and_audited(world, tmp_path):
    d, extracts, importer = world
    good = export(d, extracts, "students-b")
    key, cert = node_files(d, "edu")
    mca_cert = (d.nodes["mca"].directory / "node.crt").read_bytes()
    other_ca = CertificateAuthority.create(tmp_path / "rogue-ca")
    rogue = other_ca.issue_node("edu", level="province", division_code="320000")
    payload = b"\x0a\x00"
    past = datetime.now(UTC) - timedelta(days=30)

    bad = {
        "tampered": good.blob[:200] + bytes([good.blob[200] ^ 1]) + good.blob[201:],
        # flip every bit of one ciphertext byte (writing 0x00 left it unchanged when it was 0x00: 1 run in 256)
        "tampered-payload": good.blob[: len(good.blob) // 2]
        + bytes([good.blob[len(good.blob) // 2] ^ 0xFF])
        + good.blob[len(good.blob) // 2 + 1 :],
        "truncated": good.blob[:-40],
        "misaddressed": seal_bundle(
            "dataset", payload, sender_key_pem=key, sender_cert_pem=cert, recipient_cert_pem=mca_cert
        ),
        "expired": export(d, extracts, "students-old", now=past).blob,
        "untrusted": seal_bundle(
            "dataset",
            payload,
            sender_key_pem=rogue.key_pem,
            sender_cert_pem=rogue.cert_pem,
            recipient_cert_pem=(d.root / "matcher" / "tls" / "matcher.crt").read_bytes(),
        ),
    }
    reasons = {}
    for problem, blob in bad.items():
        with pytest.raises(BundleRefused) as err:
            importer.import_bundle(blob)
        reasons[problem] = str(err.value)
    assert "altered" in reasons["tampered"] and "altered" in reasons["tampered-payload"]
    assert "truncated" in reasons["truncated"]
    assert "addressed to certificate" in reasons["misaddressed"] and "aidlink://matcher" in reasons["misaddressed"]
    assert "expired at" in reasons["expired"]
    assert "not trusted" in reasons["untrusted"] and "not issued by this CA" in reasons["untrusted"]

    importer.import_bundle(good.blob)
    with pytest.raises(BundleRefused, match="already imported") as err:
        importer.import_bundle(good.blob)
    assert err.value.status == "ALREADY_EXISTS"

    refused = [e for e in import_entries(d) if e.method == "offline/import-bundle" and e.outcome == "refused"]
    problems = {e.detail.split(":", 1)[0] for e in refused}
    assert problems >= {"tampered", "truncated", "misaddressed", "expired", "untrusted", "replayed"}
    by_problem = {e.detail.split(":", 1)[0]: e for e in refused}
    assert by_problem["replayed"].department == "edu" and by_problem["replayed"].status == "ALREADY_EXISTS"
    assert by_problem["tampered"].department == ""  # an unverified sender is not believed
    assert by_problem["misaddressed"].status == "PERMISSION_DENIED"


def test_bundle_refused_by_the_catalog_is_audited_and_not_consumed(world):
    d, extracts, importer = world
    key, cert = node_files(d, "edu")
    exported = export_dataset_bundle(
        d.nodes["edu"].server.node,
        "students-x",
        "edu.students",
        "2023.1",
        extracts["edu"].rows[:20],
        attributes=["school_stage", "home_income"],
        key_pem=key,
        cert_pem=cert,
        matcher_cert_pem=(d.root / "matcher" / "tls" / "matcher.crt").read_bytes(),
    )
    with pytest.raises(BundleRefused, match="home_income not listed in catalog entry edu.students") as err:
        importer.import_bundle(exported.blob)
    assert err.value.status == "INVALID_ARGUMENT"
    assert not importer.ledger.seen(exported.bundle_id)
    last = import_entries(d)[-1]
    assert last.outcome == "refused" and "home_income" in last.detail and last.department == "edu"
