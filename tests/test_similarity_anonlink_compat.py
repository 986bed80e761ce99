"""anonlink imports through matcher.anonlink_compat whether or not pkg_resources exists."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_imports_anonlink_with_stand_in_when_pkg_resources_missing() -> None:
    out = _run("""
        import builtins, importlib.metadata, sys
        real_import = builtins.__import__
        def no_pkg_resources(name, *args, **kwargs):
            if name == "pkg_resources" and name not in sys.modules:
                raise ModuleNotFoundError("No module named 'pkg_resources'")
            return real_import(name, *args, **kwargs)
        builtins.__import__ = no_pkg_resources
        from aidlink.bench.anonlink_compat import import_anonlink
        anonlink = import_anonlink()
        stand_in = sys.modules["pkg_resources"]
        assert anonlink.__version__ == importlib.metadata.version("anonlink")
        assert stand_in.get_distribution("numpy").version == importlib.metadata.version("numpy")
        assert not hasattr(stand_in, "require")  # only the version lookup is provided
        print(anonlink.__version__)
    """)
    assert out.count(".") >= 1


def test_keeps_a_real_pkg_resources_when_one_is_importable() -> None:
    out = _run("""
        import sys, types
        real = types.ModuleType("pkg_resources")
        class _Dist:
            version = "9.9.9"
        real.get_distribution = lambda name: _Dist()
        sys.modules["pkg_resources"] = real
        from aidlink.bench.anonlink_compat import import_anonlink
        anonlink = import_anonlink()
        assert sys.modules["pkg_resources"] is real
        print(anonlink.__version__)
    """)
    assert out == "9.9.9"


def test_returns_the_same_module_each_time() -> None:
    from aidlink.bench.anonlink_compat import import_anonlink

    first = import_anonlink()
    assert import_anonlink() is first
    assert first.__name__ == "anonlink"
    assert hasattr(first, "candidate_generation") and hasattr(first, "solving")
