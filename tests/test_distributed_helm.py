"""The Helm chart with dask.enabled=true: lint --strict, Kubernetes schemas, values.schema.json,
the matcher's join-backend settings read by the real CLI, TLS everywhere, and a NetworkPolicy under
which only the matcher, the scheduler and the workers reach the Dask ports."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.validation import helm, manifests
from tests.test_helm_chart import (
    INTRUDER,
    KUBE_DNS,
    NAMESPACE,
    ONE_NODE,
    PROMETHEUS,
    STRANGER,
    Pod,
    _kind,
    _rendered_notes,
    _selects,
    _workloads,
    can_connect,
)

DASK = "dask.enabled=true"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def helm_binary() -> Path:
    try:
        return helm.helm_binary()
    except helm.HelmUnavailable as exc:
        pytest.skip(f"helm cannot be fetched on this machine: {exc}")


@pytest.fixture(scope="module")
def docs(helm_binary) -> list[dict]:
    return helm.template(helm_binary, set_values=[DASK], set_json=[ONE_NODE], namespace=NAMESPACE)


def _workload(docs, component: str) -> dict:
    [w] = [
        w
        for w in _workloads(docs)
        if w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return w


def _container(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]["containers"][0]


def _pod(workload: dict) -> Pod:
    template = workload["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"]}
    return Pod(workload["metadata"]["name"], NAMESPACE, template["metadata"]["labels"], ports)


@pytest.mark.parametrize(
    "values",
    [[], [helm.DEPLOY / "helm" / "examples" / "jiangsu-ten-departments.yaml"]],
    ids=["default-values", "ten-departments"],
)
def test_lint_strict_and_kubernetes_schemas_pass_with_dask(helm_binary, values):
    report = helm.lint(helm_binary, values, set_values=[DASK])
    assert "1 chart(s) linted, 0 chart(s) failed" in report
    assert "[WARNING]" not in report and "[ERROR]" not in report
    docs = helm.template(helm_binary, values, set_values=[DASK], namespace=NAMESPACE)
    for kube_version in ("1.27", helm.KUBE_VERSION):
        assert manifests.all_problems(docs, kube_version) == []


def test_dask_is_off_by_default(helm_binary):
    docs = helm.template(helm_binary, namespace=NAMESPACE)
    assert not [d for d in docs if "dask" in d["metadata"]["name"]]
    env = {e["name"] for e in _container(_kind(docs, "StatefulSet")[0])["env"]}
    assert not any(name.startswith("AIDLINK_DASK") or name == "AIDLINK_JOIN_BACKEND" for name in env)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("dask.workers.replica=3", "replica"),
        ("dask.schedular.port=8786", "schedular"),
        ("dask.tls.secret=x", "secret"),
    ],
)
def test_misspelled_dask_values_are_rejected(helm_binary, assignment, message):
    for run in (helm.template, helm.lint):
        with pytest.raises(helm.HelmFailed) as failed:
            run(helm_binary, set_values=[DASK, assignment])
        assert "Additional property" in failed.value.output and message in failed.value.output


@pytest.mark.parametrize(
    "assignment, why",
    [
        ("dask.workers.replicas=0", "replicas"),
        ("dask.scheduler.port=70000", "port"),
        ("dask.workers.threads=0", "threads"),
    ],
)
def test_out_of_range_dask_values_are_rejected(helm_binary, assignment, why):
    with pytest.raises(helm.HelmFailed) as failed:
        helm.template(helm_binary, set_values=[DASK, assignment])
    assert why in failed.value.output


def test_the_matcher_is_told_to_join_on_the_release_scheduler_over_tls(docs):
    from aidlink.cli.main import build_parser
    from aidlink.cli.settings import apply_settings

    matcher = _kind(docs, "StatefulSet")[0]
    container = _container(matcher)
    environ = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    parser = build_parser()
    args = parser.parse_args(container["args"])
    apply_settings(args.settings_parser, None, environ)  # AIDLINK_* as the pod sees them
    args = parser.parse_args(container["args"])
    assert args.join_backend == "dask"
    [service] = [s for s in _kind(docs, "Service") if s["metadata"]["name"].endswith("dask-scheduler")]
    port = service["spec"]["ports"][0]["port"]
    assert args.dask_scheduler == f"tls://{service['metadata']['name']}.{NAMESPACE}.svc:{port}"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in matcher["spec"]["template"]["spec"]["volumes"]}
    for path in (args.dask_tls_ca, args.dask_tls_cert, args.dask_tls_key):
        mount = mounts[str(path.parent)]
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["secret"]["secretName"] == "aidlink-dask-tls"


@pytest.mark.parametrize("component, command", [("dask-scheduler", "scheduler"), ("dask-worker", "worker")])
def test_scheduler_and_workers_speak_tls_only_with_the_cluster_certificates(docs, component, command):
    workload = _workload(docs, component)
    container = _container(workload)
    assert container["command"] == ["dask", command]
    args = container["args"]
    assert "--protocol=tls" in args and "--no-dashboard" in args
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    for flag in ("--tls-ca-file", "--tls-cert", "--tls-key"):
        [path] = [a.split("=", 1)[1] for a in args if a.startswith(flag + "=")]
        mount = mounts[str(Path(path).parent)]
        assert mount["readOnly"] and volumes[mount["name"]]["secret"]["secretName"] == "aidlink-dask-tls"
    if command == "worker":
        [service] = [s for s in _kind(docs, "Service") if s["metadata"]["name"].endswith("dask-scheduler")]
        assert args[0] == f"tls://{service['metadata']['name']}.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}"
    # Every flag is one the installed Dask command line knows.
    help_text = subprocess.run(
        [str(Path(sys.executable).parent / "dask"), command, "--help"], capture_output=True, text=True, check=True
    ).stdout
    for arg in args:
        if arg.startswith("--"):
            assert re.search(re.escape(arg.split("=", 1)[0]) + r"\b", help_text), arg


def test_dask_pods_are_locked_down_like_the_rest(docs):
    budgets = _kind(docs, "PodDisruptionBudget")
    for component in ("dask-scheduler", "dask-worker"):
        workload = _workload(docs, component)
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        sc = _container(workload)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert _container(workload)["resources"]["limits"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert len([b for b in budgets if _selects(b["spec"]["selector"], labels)]) == 1


def test_only_the_matcher_scheduler_and_workers_reach_the_dask_ports(docs):
    policies = _kind(docs, "NetworkPolicy")
    matcher = _pod(_kind(docs, "StatefulSet")[0])
    scheduler, worker = _pod(_workload(docs, "dask-scheduler")), _pod(_workload(docs, "dask-worker"))
    gateway = _pod(_workload(docs, "gateway"))
    assert can_connect(policies, matcher, scheduler, "comm")
    assert can_connect(policies, matcher, worker, "comm")
    assert can_connect(policies, worker, scheduler, "comm")
    assert can_connect(policies, scheduler, worker, "comm")
    assert can_connect(policies, worker, worker, "comm")  # peer-to-peer transfers
    for outsider in (gateway, STRANGER, PROMETHEUS, INTRUDER):
        assert not can_connect(policies, outsider, scheduler, "comm"), outsider.name
        assert not can_connect(policies, outsider, worker, "comm"), outsider.name
    for dask_pod in (scheduler, worker):
        assert not can_connect(policies, dask_pod, matcher, "grpc")  # workers never call the matcher
        assert not can_connect(policies, dask_pod, gateway, "api")
        assert not can_connect(policies, dask_pod, STRANGER, 443)  # and reach nothing outside
        assert can_connect(policies, dask_pod, KUBE_DNS, 53)
    assert can_connect(policies, gateway, matcher, "grpc")  # unchanged


def test_notes_make_the_dask_secret_from_a_ca_of_its_own(helm_binary, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"dask": {"enabled": True}}))
    notes = _rendered_notes(helm_binary, tmp_path, [values])
    [python] = [line.strip() for line in notes.splitlines() if line.strip().startswith("python -c")]
    work = tmp_path / "custodian"
    work.mkdir()
    subprocess.run(shlex.split(python), cwd=work, check=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    secret = re.search(r"create secret generic aidlink-dask-tls \\\n(.*?)(?:\n\n|\Z)", notes, re.S).group(1)
    files = dict(re.findall(r"--from-file=([\w.-]+)=(\S+)", secret))
    assert set(files) == {"ca.crt", "tls.crt", "tls.key"}
    for path in files.values():
        assert (work / path).is_file(), path
    from aidlink.keys.authority import CertificateAuthority

    cluster_ca = CertificateAuthority.load(work / "dask-ca")
    assert (work / files["ca.crt"]).read_bytes() == cluster_ca.cert_pem
    assert "aidlink dask cluster CA" in cluster_ca.certificate.subject.rfc4514_string()
