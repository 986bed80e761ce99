"""The committed protobuf/gRPC stubs are exactly what proto/generate.py makes."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools not installed")
def test_committed_stubs_are_current(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "proto"))
    from generate import generate

    generated = generate(tmp_path)
    assert generated, "protoc produced nothing"
    committed_dir = ROOT / "src" / "aidlink" / "v1"
    fresh = {p.name: p.read_bytes() for p in generated}
    committed = {p.name: p.read_bytes() for p in committed_dir.glob("*_pb2*.py*")}
    stale = sorted(n for n in fresh if committed.get(n) != fresh[n])
    extra = sorted(set(committed) - set(fresh))
    assert not stale, f"stale stubs (run python proto/generate.py): {stale}"
    assert not extra, f"stubs without a .proto source: {extra}"
