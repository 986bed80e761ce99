"""The image's Dockerfile (no Docker engine here): it copies files that exist, every package the
project ships, lets them through its .dockerignore, agrees with the Helm chart on user and cache
directory, and the files it copies are enough to build a wheel with the `aidlink` command."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "docker" / "Dockerfile.dockerignore"
CHART_VALUES = ROOT / "deploy" / "helm" / "aidlink" / "values.yaml"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _copy_sources() -> list[str]:
    sources = []
    for word, rest in _instructions():
        if word == "COPY" and "--from" not in rest:
            *srcs, _dest = rest.split()
            sources += srcs
    return sources


def _shipped_packages() -> set[str]:
    """Top-level directories that hold the packages pyproject.toml ships."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = set()
    for where in config["where"]:
        base = ROOT / where
        for init in base.glob("*/__init__.py"):
            name = init.parent.name
            if any(fnmatch.fnmatch(name, pattern) for pattern in config["include"]):
                found.add(init.parent.relative_to(ROOT).parts[0])
    return found


def test_copied_files_exist_and_cover_every_shipped_package():
    sources = [s.rstrip("/") for s in _copy_sources()]
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    assert {"pyproject.toml", "README.md"} <= set(sources)  # README is the package's readme
    missing = _shipped_packages() - set(sources)
    assert not missing, f"pyproject.toml ships packages the Dockerfile does not copy: {sorted(missing)}"


def test_dockerignore_lets_every_copied_file_through():
    lines = [l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "*"  # deny by default: no virtualenv, custody keys or data in the context
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    assert {s.rstrip("/") for s in _copy_sources()} <= allowed


def test_image_runs_aidlink_as_the_chart_user():
    instructions = _instructions()
    froms = [rest for word, rest in instructions if word == "FROM"]
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG" and "=" in rest)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert froms[0].startswith("${PYTHON_IMAGE}") and froms[-1] == "${PYTHON_IMAGE}"
    script = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    [entrypoint] = [json.loads(rest) for word, rest in instructions if word == "ENTRYPOINT"]
    assert entrypoint == ["aidlink"] and "aidlink" in script
    [user] = [rest for word, rest in instructions if word == "USER"]
    values = yaml.safe_load(CHART_VALUES.read_text())
    uid, gid = (int(x) for x in user.split(":"))
    assert uid == values["podSecurityContext"]["runAsUser"] != 0
    assert gid == values["podSecurityContext"]["runAsGroup"]
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    chart_helpers = (ROOT / "deploy" / "helm" / "aidlink" / "templates" / "_helpers.tpl").read_text()
    cache = re.search(r"NUMBA_CACHE_DIR=(\S+)", env).group(1)
    assert re.search(rf"name: NUMBA_CACHE_DIR\s+value: {re.escape(cache)}\b", chart_helpers)


def test_copied_files_build_a_wheel_with_the_aidlink_command(tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    for source in _copy_sources():
        src = ROOT / source.rstrip("/")
        if src.is_dir():
            shutil.copytree(src, context / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, context / src.name)
    wheels = tmp_path / "wheels"
    # Build isolation, as in the image: the build backend comes from pyproject's build-system.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(context)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = wheels.glob("aidlink-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "aidlink = aidlink.cli.main:main" in entry_points
    for needed in (
        "cli/main.py",
        "matcher/server.py",
        "matcher/data/agreements.toml",
        "matcher/data/catalog.toml",
        "v1/matcher_pb2.py",
        "audit/log.py",
    ):
        assert f"aidlink/{needed}" in names, f"aidlink/{needed} is not in the wheel built from the Docker context"
    top_level = {n.split("/")[0] for n in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"aidlink"}, top_level
    # Importable from the wheel alone: `aidlink`, and none of the old top-level names.
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    probe = (
        "import sys, importlib.util; sys.path[:] = [sys.argv[1]] + [p for p in sys.path if "
        "'site-packages' not in p and p not in ('', '.')]; import aidlink; "
        "print(sorted(n for n in ('cli', 'audit', 'keys', 'matcher', 'gateway', 'bench', 'database', "
        "'observability') if importlib.util.find_spec(n) is not None))"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(unpacked)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
