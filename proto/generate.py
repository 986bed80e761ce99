"""Regenerate the committed Python stubs from src/aidlink/v1/*.proto.

Run: python proto/generate.py  (needs grpcio-tools; the test suite checks the
committed stubs equal what this produces).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent.parent / "src"


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    import grpc_tools
    from grpc_tools import protoc

    sources = sorted((PROTO_ROOT / "aidlink" / "v1").glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(s.relative_to(PROTO_ROOT)) for s in sources],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_dir / "aidlink" / "v1").glob("*_pb2*.py*"))


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT):
        print(path)
