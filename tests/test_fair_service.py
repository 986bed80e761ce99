"""Fair service over real mTLS: one department's long polls cannot starve another department.

Before the admission limits, 16 long-poll ``Disputes.Inbox`` streams from edu held the 16 workers
of the matcher for up to 30 s each, and mca's ``ListDatasets`` waited behind them until its
deadline. Now a department holds at most ``department_streams`` streams, all departments together
at most ``max_streams`` (fewer than the workers), and an over-limit call is refused
RESOURCE_EXHAUSTED naming the department and the limit, and audited.
"""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_status import rpc_status

from aidlink.demo.loopback import LoopbackDeployment
from aidlink.matcher.admission import Admission, LimitReached, ServiceLimits
from aidlink.v1 import disputes_pb2, disputes_pb2_grpc, matcher_pb2, matcher_pb2_grpc

LONG_POLLS = 32
POLL_WAIT_S = 30  # the longest a long poll waits (disputes.MAX_WAIT_SECONDS)
SETTLE_S = 20  # guards against a hang only: how long the refusals of the over-limit polls may take
UNARY_BOUND_S = 1.0  # the bound the issue sets: another department's unary call is answered within it
UNARY_DEADLINE_S = 8.0  # the unary call's deadline (a starved call ends here, far past the bound)


def node_channel(deployment: LoopbackDeployment, department: str) -> grpc.Channel:
    d = deployment.root / "nodes" / department
    creds = grpc.ssl_channel_credentials(
        deployment.ca.cert_pem, (d / "node.key").read_bytes(), (d / "node.crt").read_bytes()
    )
    return grpc.secure_channel(deployment.matcher.address, creds)


@pytest.fixture
def deployment(tmp_path, request):
    options = getattr(request, "param", {})
    with LoopbackDeployment(tmp_path, departments=(), matcher_options=options) as deployment:
        for department in ("edu", "mca", "nhsa"):
            deployment.node_dir(department)
        yield deployment


def long_poll(stub: disputes_pb2_grpc.DisputesStub):
    return stub.Inbox(disputes_pb2.InboxRequest(after=0, wait_seconds=POLL_WAIT_S), timeout=POLL_WAIT_S * 3)


def outcome(call) -> grpc.StatusCode | None:
    """The status a finished call ended with; None while it runs."""
    if call.running():
        return None
    return call.code()


def wait_until(predicate, limit_s: float) -> bool:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_32_long_polls_from_one_department_do_not_delay_another_departments_unary_call(deployment):
    limits = ServiceLimits()
    with node_channel(deployment, "edu") as edu, node_channel(deployment, "mca") as mca:
        disputes, matcher = disputes_pb2_grpc.DisputesStub(edu), matcher_pb2_grpc.MatcherStub(mca)
        # Both connections are up (TLS handshakes done) before the polls start.
        disputes.ListDisputes(disputes_pb2.ListDisputesRequest(), timeout=30)
        matcher.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=30)

        polls = [long_poll(disputes) for _ in range(LONG_POLLS)]
        try:
            over_limit = LONG_POLLS - limits.department_streams
            # The over-limit polls are refused at once; the admitted ones wait (for POLL_WAIT_S).
            wait_until(lambda: sum(outcome(p) is not None for p in polls) >= over_limit, SETTLE_S)

            started = time.monotonic()
            try:
                answer = matcher.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=UNARY_DEADLINE_S)
            except grpc.RpcError as err:
                pytest.fail(
                    f"mca's ListDatasets ended {err.code().name} after {time.monotonic() - started:.1f} s "
                    f"while edu held {LONG_POLLS} long polls"
                )
            took = time.monotonic() - started
            assert answer is not None
            assert took < UNARY_BOUND_S, f"mca's ListDatasets took {took:.2f} s behind edu's long polls"

            ended = [outcome(p) for p in polls]
            assert ended.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == over_limit, ended
            assert ended.count(None) == limits.department_streams, "the admitted polls are still waiting"
            refused = next(p for p in polls if outcome(p) == grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert "department edu" in refused.details()
            assert f"at most {limits.department_streams}" in refused.details()
            assert "department-streams" in refused.details()
            info = rich_error_info(refused)
            assert info.reason == "CONCURRENCY_LIMIT"
            assert dict(info.metadata) == {
                "department": "edu",
                "limit": str(limits.department_streams),
                "setting": "department-streams",
            }
        finally:
            for p in polls:
                p.cancel()

        # A cancelled long poll gives its place back at once: edu may poll again.
        assert wait_until(lambda: not deployment.matcher.admission.in_progress(), 10), (
            deployment.matcher.admission.in_progress()
        )
        again = disputes.Inbox(disputes_pb2.InboxRequest(after=0, wait_seconds=0), timeout=30)
        assert list(again) == []

    refusals = [
        e
        for e in deployment.audit_entries()
        if e.method == "/aidlink.v1.Disputes/Inbox" and e.status == "RESOURCE_EXHAUSTED"
    ]
    assert len(refusals) == LONG_POLLS - limits.department_streams, "every refusal is audited"
    assert {(e.outcome, e.department) for e in refusals} == {("refused", "edu")}
    assert "department-streams" in refusals[0].detail


def rich_error_info(call):
    from google.rpc import error_details_pb2

    status = rpc_status.from_call(call)
    assert status is not None, "the refusal carries google.rpc.Status details"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


@pytest.mark.parametrize(
    "deployment",
    [dict(max_workers=4, max_streams=2, department_calls=4, department_streams=2)],
    indirect=True,
)
def test_streams_of_all_departments_together_leave_workers_to_unary_calls(deployment):
    """A pool of 4 workers, at most 2 streams: edu holds both; nhsa's stream is refused naming the
    matcher-wide limit, and mca's unary call is served from the workers kept for unary calls."""
    with (
        node_channel(deployment, "edu") as edu,
        node_channel(deployment, "nhsa") as nhsa,
        node_channel(deployment, "mca") as mca,
    ):
        matcher = matcher_pb2_grpc.MatcherStub(mca)
        matcher.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=30)
        edu_polls = [long_poll(disputes_pb2_grpc.DisputesStub(edu)) for _ in range(2)]
        try:
            assert wait_until(lambda: deployment.matcher.admission.in_progress().get("edu") == (2, 2), SETTLE_S)
            with pytest.raises(grpc.RpcError) as refused:
                list(long_poll(disputes_pb2_grpc.DisputesStub(nhsa)))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "setting streams: 2" in refused.value.details()
            assert "department nhsa" in refused.value.details()
            started = time.monotonic()
            matcher.ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=UNARY_DEADLINE_S)
            assert time.monotonic() - started < UNARY_BOUND_S
        finally:
            for p in edu_polls:
                p.cancel()


def test_a_departments_calls_in_progress_are_limited_and_given_back():
    admission = Admission(ServiceLimits(workers=8, streams=4, department_calls=3, department_streams=2))
    for _ in range(3):
        admission.enter("edu", stream=False)
    with pytest.raises(LimitReached, match=r"department edu already has 3 calls .* at most 3 .*department-calls"):
        admission.enter("edu", stream=False)
    admission.enter("mca", stream=False)  # another department is not affected
    admission.leave("edu", stream=False)
    admission.enter("edu", stream=False)  # a place given back is taken again
    assert admission.in_progress() == {"edu": (3, 0), "mca": (1, 0)}
    # Security officers have no department: they share one count, named as such.
    for _ in range(3):
        admission.enter("officers", stream=False)
    with pytest.raises(LimitReached, match=r"^the security officers already have 3 calls in progress"):
        admission.enter("officers", stream=False)


@pytest.mark.parametrize(
    "limits, problem",
    [
        (dict(workers=16, streams=16), "must be fewer than workers"),
        (dict(workers=0), "workers must be at least 1"),
        (dict(streams=2, department_streams=3), "department-streams (3) exceeds streams (2)"),
    ],
)
def test_limits_that_would_let_streams_take_every_worker_are_refused(limits, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        ServiceLimits(**limits)


def test_matcher_serve_refuses_limits_that_do_not_fit_in_one_line(tmp_path, capsys, monkeypatch):
    from aidlink.cli.main import main as cli

    monkeypatch.setenv("AIDLINK_WORKERS", "4")  # a setting from the environment, as in a pod
    code = cli(["matcher", "serve", "--insecure-dev", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "aidlink matcher serve: streams (16) must be fewer than workers (4): "
        "the difference is the workers unary calls always find free"
    )
