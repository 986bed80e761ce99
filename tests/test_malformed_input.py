"""Malformed requests over real mTLS get INVALID_ARGUMENT naming the field, never INTERNAL:
NUL bytes and over-long four-byte names where dataset names are bounded (a name is part of
file names), and integers >= 2^63 in uint64 ids and cursors, which the stores (signed 64-bit)
cannot hold. Each refusal is audited like any other."""

from __future__ import annotations

import grpc
import pytest

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.v1 import (
    common_pb2,
    disputes_pb2,
    disputes_pb2_grpc,
    matcher_pb2,
    matcher_pb2_grpc,
    monitoring_pb2,
    monitoring_pb2_grpc,
)

INFO = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint="test-schema")
TOO_BIG = (2**63, 2**64 - 1)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with LoopbackDeployment(tmp_path_factory.mktemp("malformed"), departments=()) as d:
        yield d


@pytest.fixture(scope="module")
def channel(deployment):
    node = deployment.ca.issue_node("mca", level="province", division_code="320000")
    creds = grpc.ssl_channel_credentials(deployment.ca.cert_pem, node.key_pem, node.cert_pem)
    with grpc.secure_channel(deployment.matcher.address, creds) as ch:
        yield ch


def invalid_argument(deployment, call, field: str) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call()
    details = err.value.details()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details.startswith(f"{field}: "), details
    entry = deployment.audit_entries()[-1]
    assert entry.status == "INVALID_ARGUMENT" and entry.detail.startswith(f"{field}: ")
    return details


def upload(stub, name: str):
    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=name, catalog_entry="mca.low-income", catalog_version="2023.1", encoding=INFO
            )
        )
        yield matcher_pb2.UploadChunk(
            batch=matcher_pb2.RecordBatch(records=[matcher_pb2.EncodedRecord(ref="r1", encoding=b"\x01" * 128)])
        )

    return stub.UploadDataset(chunks(), timeout=10)


def test_a_dataset_name_with_a_nul_byte_is_refused_naming_the_field(deployment, channel):
    stub = matcher_pb2_grpc.MatcherStub(channel)
    details = invalid_argument(deployment, lambda: upload(stub, "low\x00income"), "header.dataset")
    assert "cannot be shown (\\u0000)" in details  # the character named, escaped, never raw


@pytest.mark.parametrize("name", ["low\nincome", "low\x1b[31mincome", "low\x85income"], ids=["LF", "ESC", "NEL"])
def test_a_dataset_name_with_a_control_character_is_refused(deployment, channel, name):
    stub = matcher_pb2_grpc.MatcherStub(channel)
    invalid_argument(deployment, lambda: upload(stub, name), "header.dataset")


def test_a_dataset_name_of_64_four_byte_characters_is_refused_by_its_size(deployment, channel):
    stub = matcher_pb2_grpc.MatcherStub(channel)
    details = invalid_argument(deployment, lambda: upload(stub, "\U0001f600" * 64), "header.dataset")
    assert "256 bytes in UTF-8; at most 200" in details


def test_a_dataset_name_of_64_three_byte_characters_is_accepted(deployment, channel):
    summary = upload(matcher_pb2_grpc.MatcherStub(channel), "低" * 64)
    assert summary.accepted == 1


@pytest.mark.parametrize("value", TOO_BIG, ids=["2^63", "2^64-1"])
def test_disputes_inbox_cursor_beyond_the_store_is_refused(deployment, channel, value):
    stub = disputes_pb2_grpc.DisputesStub(channel)
    invalid_argument(deployment, lambda: list(stub.Inbox(disputes_pb2.InboxRequest(after=value), timeout=10)), "after")


MONITORING_CALLS = [
    ("ListWarnings", lambda v: monitoring_pb2.WarningQuery(after_id=v), "after_id"),
    ("GetWarning", lambda v: monitoring_pb2.GetWarningRequest(id=v), "id"),
    ("ChangeWarning", lambda v: monitoring_pb2.WarningChange(id=v, status="assigned"), "id"),
    ("ReferWarning", lambda v: monitoring_pb2.ReferRequest(warning_id=v, to_department="edu"), "warning_id"),
    ("FetchInbox", lambda v: monitoring_pb2.ReferralInboxRequest(after=v), "after"),
    ("SubmitDisclosure", lambda v: monitoring_pb2.DisclosureSubmission(referral_id=v), "referral_id"),
    ("ReportReferral", lambda v: monitoring_pb2.ReferralReport(referral_id=v, outcome="handled"), "referral_id"),
]


@pytest.mark.parametrize("value", TOO_BIG, ids=["2^63", "2^64-1"])
@pytest.mark.parametrize("method, request_with, field", MONITORING_CALLS, ids=[c[0] for c in MONITORING_CALLS])
def test_monitoring_ids_beyond_the_store_are_refused(deployment, channel, method, request_with, field, value):
    call = getattr(monitoring_pb2_grpc.MonitoringStub(channel), method)
    details = invalid_argument(deployment, lambda: call(request_with(value), timeout=10), field)
    assert f"{value} is out of range (0 to {2**63 - 1})" in details


@pytest.fixture(scope="module")
def postgres_deployment(tmp_path_factory):
    from tests.support.postgres import postgres_unreachable, scratch_schema

    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    with scratch_schema() as url:
        root = tmp_path_factory.mktemp("malformed-postgres")
        with LoopbackDeployment(root, departments=(), database_url=url) as d:
            yield d


NAMED_DATASETS = [
    ("CompareDatasets", "my_dataset"),
    ("CompareDatasets", "other_dataset"),
    ("QueryStatus", "dataset"),
    ("Flag", "my_dataset"),
    ("Flag", "other_dataset"),
]


@pytest.mark.parametrize("method, field", NAMED_DATASETS, ids=[f"{m}.{f}" for m, f in NAMED_DATASETS])
def test_a_nul_in_a_dataset_looked_up_in_postgresql_is_refused_naming_the_field(postgres_deployment, method, field):
    d = postgres_deployment
    node = d.ca.issue_node("mca", level="province", division_code="320000")
    creds = grpc.ssl_channel_credentials(d.ca.cert_pem, node.key_pem, node.cert_pem)
    purpose = common_pb2.POLICY_DELIVERY_CHECK
    with grpc.secure_channel(d.matcher.address, creds) as ch:
        upload(matcher_pb2_grpc.MatcherStub(ch), "low-income")
        names = {"my_dataset": "low-income", "other_dataset": "edu/students", "dataset": "edu/students"}
        names[field] = "edu/stu\x00dents" if "/" in names[field] else "low\x00income"
        if method == "Flag":
            stub = disputes_pb2_grpc.DisputesStub(ch)
            request = disputes_pb2.FlagRequest(
                my_dataset=names["my_dataset"],
                my_ref="r1",
                other_dataset=names["other_dataset"],
                purpose=purpose,
                reason="looks wrong",
            )
            invalid_argument(d, lambda: stub.Flag(request, timeout=10), field)
        elif method == "CompareDatasets":
            stub = matcher_pb2_grpc.MatcherStub(ch)
            request = matcher_pb2.CompareRequest(
                my_dataset=names["my_dataset"], other_dataset=names["other_dataset"], purpose=purpose
            )
            invalid_argument(d, lambda: list(stub.CompareDatasets(request, timeout=10)), field)
        else:
            stub = matcher_pb2_grpc.MatcherStub(ch)
            request = matcher_pb2.StatusQuery(dataset=names["dataset"], purpose=purpose)
            invalid_argument(d, lambda: stub.QueryStatus(request, timeout=10), field)
