"""The chart carries the matcher's fair-service and gRPC settings (pool, limits, message size,
reflection) to the command line, where the real CLI parses them; limits that would let streams take
every worker fail the render with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.validation import helm

NAMESPACE = "aidlink"
ONE_NODE = 'gateways.departments=[{"code": "mca", "level": "city", "divisionCode": "320900"}]'


@pytest.fixture(scope="module")
def helm_binary() -> Path:
    try:
        return helm.helm_binary()
    except helm.HelmUnavailable as exc:
        pytest.skip(f"helm cannot be fetched on this machine: {exc}")


def _args(docs: list[dict], kind: str) -> list[str]:
    [workload] = [d for d in docs if d["kind"] == kind]
    return workload["spec"]["template"]["spec"]["containers"][0]["args"]


def test_the_pool_limits_message_size_and_reflection_reach_the_matcher_and_gateways(helm_binary):
    from aidlink.cli.main import build_parser

    docs = helm.template(
        helm_binary,
        set_values=[
            "matcher.grpc.workers=48",
            "matcher.grpc.maxStreams=20",
            "matcher.grpc.departmentCalls=6",
            "matcher.grpc.departmentStreams=3",
            "matcher.grpc.maxMessageBytes=33554432",
            "matcher.grpc.reflection=true",
            "gateways.maxMessageBytes=33554432",
        ],
        set_json=[ONE_NODE],
        namespace=NAMESPACE,
    )
    matcher = build_parser().parse_args(_args(docs, "StatefulSet"))
    assert (matcher.workers, matcher.max_streams, matcher.department_calls, matcher.department_streams) == (
        48,
        20,
        6,
        3,
    )
    assert matcher.max_message_bytes == 33554432 and matcher.reflection is True
    gateway = build_parser().parse_args(_args(docs, "Deployment"))
    assert gateway.max_message_bytes == 33554432

    defaults = build_parser().parse_args(_args(helm.template(helm_binary, namespace=NAMESPACE), "StatefulSet"))
    assert defaults.reflection is False  # off unless asked for
    assert (defaults.workers, defaults.max_streams) == (32, 16)


def test_streams_as_many_as_workers_fail_the_render(helm_binary):
    with pytest.raises(helm.HelmFailed) as failed:
        helm.template(helm_binary, set_values=["matcher.grpc.maxStreams=32"], namespace=NAMESPACE)
    assert "maxStreams must be fewer than matcher.grpc.workers" in failed.value.output
