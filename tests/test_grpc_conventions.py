"""gRPC conventions over real servers: reflection (on only when asked), google.rpc.Status details on
refusals, deadlines set by the CLI and honoured across the node -> matcher hop, the message size as a
setting, keepalive on both ends."""

from __future__ import annotations

import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aidlink.cli.main import main as cli
from aidlink.deadlines import DeadlineInterceptor, IncomingDeadline
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.server import GatewayConfig, matcher_channel
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.transport import CLIENT_KEEPALIVE, SERVER_KEEPALIVE, client_options, server_options
from aidlink.v1 import common_pb2, disputes_pb2, disputes_pb2_grpc, gateway_pb2, matcher_pb2, matcher_pb2_grpc

WAIT_S = 60  # guards against a hang only


def node_channel(deployment: LoopbackDeployment, department: str) -> grpc.Channel:
    d = deployment.root / "nodes" / department
    creds = grpc.ssl_channel_credentials(
        deployment.ca.cert_pem, (d / "node.key").read_bytes(), (d / "node.crt").read_bytes()
    )
    return grpc.secure_channel(deployment.matcher.address, creds)


def matcher_only(tmp_path, **options) -> LoopbackDeployment:
    deployment = LoopbackDeployment(tmp_path, departments=(), matcher_options=options)
    deployment.start()
    deployment.node_dir("edu")
    return deployment


def details_of(error: grpc.RpcError) -> dict[str, object]:
    """The google.rpc details a refusal carries, by type name."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status details on {error.code().name}: {error.details()}"
    assert status.code == error.code().value[0] and status.message == error.details()
    found: dict[str, object] = {}
    for packed in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found[kind.DESCRIPTOR.name] = message
    return found


# -- reflection ------------------------------------------------------------------------------------
def test_reflection_lists_the_services_when_enabled(tmp_path):
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    deployment = matcher_only(tmp_path, reflection=True)
    try:
        with node_channel(deployment, "edu") as channel:
            services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
            assert {
                "aidlink.v1.Matcher",
                "aidlink.v1.Catalog",
                "aidlink.v1.Disputes",
                "aidlink.v1.Monitoring",
                "aidlink.v1.AuditTrail",
                "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection",
            } <= services
            # and describes the methods (what grpcurl needs to call them)
            pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            assert "CompareDatasets" in pool.FindServiceByName("aidlink.v1.Matcher").methods_by_name
    finally:
        deployment.stop()


def test_reflection_is_absent_by_default(tmp_path):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    deployment = matcher_only(tmp_path)
    try:
        with node_channel(deployment, "edu") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                list(
                    stub.ServerReflectionInfo(
                        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=WAIT_S
                    )
                )
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        deployment.stop()


# -- rich error details -----------------------------------------------------------------------------
def test_a_bad_request_carries_bad_request_naming_the_field_and_an_error_info_reason(tmp_path):
    deployment = matcher_only(tmp_path)
    try:
        with node_channel(deployment, "edu") as channel:
            stub = disputes_pb2_grpc.DisputesStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                list(stub.Inbox(disputes_pb2.InboxRequest(after=2**63), timeout=WAIT_S))
            error = err.value
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error.details().startswith("after: 9223372036854775808 is out of range")  # readable, as before
            found = details_of(error)
            [violation] = found["BadRequest"].field_violations
            assert violation.field == "after" and violation.description == error.details()
            info = found["ErrorInfo"]
            assert (info.reason, info.domain, info.metadata["field"]) == ("INVALID_FIELD", "aidlink.matcher", "after")

            # An oversized string is named by its path (through nested messages), never quoted.
            matcher = matcher_pb2_grpc.MatcherStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                list(
                    matcher.CompareDatasets(
                        matcher_pb2.CompareRequest(my_dataset="x" * 5000, other_dataset="mca/low-income"),
                        timeout=WAIT_S,
                    )
                )
            [violation] = details_of(err.value)["BadRequest"].field_violations
            assert violation.field == "my_dataset"
            assert "xxxx" not in err.value.details()

            # A refusal that is not about a field has an ErrorInfo and no BadRequest.
            with pytest.raises(grpc.RpcError) as err:
                disputes_pb2_grpc.DisputesStub(channel).Respond(
                    disputes_pb2.RespondRequest(dispute_id="nope", action=disputes_pb2.ACKNOWLEDGE), timeout=WAIT_S
                )
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            found = details_of(err.value)
            assert found["ErrorInfo"].reason == "NOT_FOUND" and "BadRequest" not in found
    finally:
        deployment.stop()


# -- deadlines --------------------------------------------------------------------------------------
CLI_DEADLINE_S = 3.0
CLI_SLACK_S = 2.0  # the CLI's own scheduling on a loaded machine: it must end near its deadline, not minutes later


@pytest.fixture
def postgres_url():
    from tests.support.postgres import postgres_unreachable, scratch_schema

    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    with scratch_schema() as url:
        yield url


def test_a_cli_deadline_propagates_through_the_node_to_the_matcher(tmp_path, postgres_url, capsys):
    """The matcher is made slow for real: a PostgreSQL session holds an exclusive lock on its dataset
    table, so the matcher's comparison waits on it. `aidlink gateway compare --deadline 3` ends with
    DEADLINE_EXCEEDED within its deadline, and the matcher saw the deadline the node passed on: it
    audits the comparison DEADLINE_EXCEEDED (without the deadline, the node would wait on and the
    matcher would answer it once the lock is gone)."""
    import psycopg

    population = SyntheticPopulation.generate(300, seed=5)
    with LoopbackDeployment(tmp_path, departments=("mca", "edu"), database_url=postgres_url) as deployment:
        for dept, dataset, entry, attrs in (
            ("mca", "low-income", "mca.low-income", ["category", "dispersed", "school_age"]),
            ("edu", "students", "edu.students", ["school_stage"]),
        ):
            header = gateway_pb2.SubmitHeader(
                dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs
            )
            submit_rows(deployment.nodes[dept].stub, header, department_extract(population, dept, seed=5).rows)
        edu = deployment.nodes["edu"].server.address
        command = ["gateway", "compare", "--gateway", edu, "--my-dataset", "students", "--other", "mca/low-income"]
        command += ["--purpose", "eligibility-check", "-o", str(tmp_path / "matches.csv")]
        assert cli(command) == 0  # unhindered, it works (and every kernel and cache is warm)
        capsys.readouterr()
        before = len(deployment.audit_entries())

        lock = psycopg.connect(postgres_url)
        try:
            lock.execute("LOCK TABLE dataset_versions IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            code = cli([*command, "--deadline", str(CLI_DEADLINE_S)])
            took = time.monotonic() - started
        finally:
            lock.rollback()
            lock.close()
        err = capsys.readouterr().err
        assert code == 1 and "DEADLINE_EXCEEDED" in err, err
        assert took < CLI_DEADLINE_S + CLI_SLACK_S, f"the CLI ended {took:.1f} s after a {CLI_DEADLINE_S} s deadline"
        assert "Traceback" not in err

        def matcher_compare_entries():
            return [
                e
                for e in deployment.audit_entries()[before:]
                if e.method == "/aidlink.v1.Matcher/CompareDatasets" and e.department == "edu"
            ]

        end = time.monotonic() + WAIT_S
        while not matcher_compare_entries() and time.monotonic() < end:
            time.sleep(0.1)
        [entry] = matcher_compare_entries()
        assert (entry.status, entry.outcome) == ("DEADLINE_EXCEEDED", "cancelled"), entry
        assert "deadline passed" in entry.detail


def test_the_outgoing_deadline_is_never_longer_than_what_the_incoming_call_has_left():
    """Over a real server: a handler that calls out (as the node calls the matcher) gives its call at
    most the time its own caller has left; without an incoming deadline, the channel's default."""
    from concurrent import futures

    seen: dict[str, float] = {}
    WIRE = 1.0  # gRPC's grpc-timeout header rounds a deadline up (120 s arrives as up to 121 s)
    interceptor = DeadlineInterceptor(unary_s=30, stream_s=600)

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        seen["unary"] = interceptor.timeout(None, streaming=False)
        seen["stream"] = interceptor.timeout(None, streaming=True)
        seen["asked"] = interceptor.timeout(100.0, streaming=False)
        return b""

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        interceptors=[IncomingDeadline()],
        options=server_options(),
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("t.T", {"Call": grpc.unary_unary_rpc_method_handler(handler)})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=client_options()) as channel:
            call = channel.unary_unary("/t.T/Call")
            call(b"", timeout=5)
            assert 0 < seen["unary"] <= 5 + WIRE and 0 < seen["stream"] <= 5 + WIRE and seen["asked"] <= 5 + WIRE
            call(b"", timeout=120)
            assert 5 + WIRE < seen["unary"] <= 30 and 30 < seen["stream"] <= 120 + WIRE
            call(b"")  # no incoming deadline: the defaults
            assert (seen["unary"], seen["stream"], seen["asked"]) == (30, 600, 100.0)
    finally:
        server.stop(0)


# -- message size ---------------------------------------------------------------------------------
def test_the_message_size_setting_is_enforced(tmp_path):
    deployment = matcher_only(tmp_path, max_message_bytes=64 * 1024)
    try:
        with node_channel(deployment, "edu") as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            query = matcher_pb2.StatusQuery(
                dataset="mca/low-income", encoding=bytes(100 * 1024), purpose=common_pb2.ELIGIBILITY_CHECK
            )
            with pytest.raises(grpc.RpcError) as err:
                stub.QueryStatus(query, timeout=WAIT_S)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "larger than max" in err.value.details()
            stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=WAIT_S)  # still serving
    finally:
        deployment.stop()
    # The default (16 MiB) takes the same message; the matcher answers it on its merits.
    deployment = matcher_only(tmp_path / "default")
    try:
        with node_channel(deployment, "edu") as channel:
            with pytest.raises(grpc.RpcError) as err:
                matcher_pb2_grpc.MatcherStub(channel).QueryStatus(query, timeout=WAIT_S)
            assert err.value.code() != grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        deployment.stop()


def test_the_node_channel_carries_the_message_size_setting(tmp_path):
    config = GatewayConfig("edu", tmp_path, "127.0.0.1:1", b"", 0, max_message_bytes=2048)
    assert ("grpc.max_send_message_length", 2048) in client_options(config.max_message_bytes)
    with pytest.raises(ValueError, match="max-message-bytes must be between 1024"):
        client_options(100)
    matcher_channel(config).close()


# -- keepalive --------------------------------------------------------------------------------------
def test_keepalive_on_both_ends_and_clients_ping_no_faster_than_the_server_allows():
    server, client = dict(server_options()), dict(client_options())
    assert set(SERVER_KEEPALIVE) <= set(server.items()) and set(CLIENT_KEEPALIVE) <= set(client.items())
    assert server["grpc.keepalive_permit_without_calls"] == 1 and client["grpc.keepalive_permit_without_calls"] == 1
    assert client["grpc.keepalive_time_ms"] > server["grpc.http2.min_ping_interval_without_data_ms"], (
        "a client pinging faster than the server allows is sent GOAWAY too_many_pings"
    )
    assert client["grpc.http2.max_pings_without_data"] == 0  # keeps pinging through a silent long poll


def test_every_aidlink_channel_is_built_with_the_keepalive_options(tmp_path, monkeypatch):
    """The node's channel to the matcher and the CLI's channel to the node pass the options above
    (recorded at grpc's channel constructors; the channels are real)."""
    from aidlink.gateway.node_channel import node_channel

    built: list[dict] = []
    for name in ("insecure_channel", "secure_channel"):
        real = getattr(grpc, name)

        def recording(*args, _real=real, **kwargs):
            built.append(dict(kwargs.get("options") or ()))
            return _real(*args, **kwargs)

        monkeypatch.setattr(grpc, name, recording)
    matcher_channel(GatewayConfig("edu", tmp_path, "127.0.0.1:1", b"", 0)).close()
    node_channel("127.0.0.1:1", insecure_dev=True).close()
    assert len(built) == 2
    for options in built:
        assert set(CLIENT_KEEPALIVE) <= set(options.items())


def test_a_refusal_the_audit_log_cannot_record_carries_the_details_of_its_unavailable_answer(tmp_path):
    """Fail closed replaces the refusal's status and its details together: the client reads
    AUDIT_UNAVAILABLE, never an INVALID_ARGUMENT trailer under an UNAVAILABLE code."""
    import sqlite3

    deployment = matcher_only(tmp_path)
    try:
        holder = sqlite3.connect(deployment.matcher.config.data_dir / "audit.sqlite", isolation_level=None)
        with node_channel(deployment, "edu") as channel:
            stub = disputes_pb2_grpc.DisputesStub(channel)
            try:
                holder.execute("BEGIN IMMEDIATE")  # the audit store cannot write
                with pytest.raises(grpc.RpcError) as err:
                    list(stub.Inbox(disputes_pb2.InboxRequest(after=2**63), timeout=WAIT_S))
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            found = details_of(err.value)
            assert found["ErrorInfo"].reason == "AUDIT_UNAVAILABLE" and "BadRequest" not in found
    finally:
        deployment.stop()


def test_the_node_passes_the_matchers_error_details_on_to_the_departments_system(tmp_path):
    with LoopbackDeployment(tmp_path, departments=("edu",)) as deployment:
        stub = deployment.nodes["edu"].stub
        with pytest.raises(grpc.RpcError) as err:
            list(
                stub.CompareDataset(
                    gateway_pb2.GatewayCompareRequest(
                        my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
                    ),
                    timeout=WAIT_S,
                )
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND  # nothing was uploaded
        assert err.value.details() == "matcher: my_dataset: dataset edu/students does not exist"  # readable
        info = details_of(err.value)["ErrorInfo"]
        assert (info.reason, info.domain) == ("NOT_FOUND", "aidlink.matcher")
