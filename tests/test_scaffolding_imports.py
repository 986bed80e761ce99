"""Test and demo scaffolding stays out of production code: no module of the installed package
outside aidlink/demo imports aidlink.demo (the loopback deployment, the demo script) or the
tests, except the command line registering `aidlink demo`. Read from the source with ast, so
an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import aidlink

PACKAGE = Path(aidlink.__file__).parent
SCAFFOLDING = ("aidlink.demo", "tests")
ALLOWED = {("cli/main.py", "aidlink.demo.run")}  # registers the `aidlink demo` subcommand


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import in a module of `package`, relative imports made absolute."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from aidlink import demo` imports aidlink.demo: count each name as a submodule too.
            found.extend((node.lineno, f"{base}.{a.name}") for a in node.names)
    return found


def is_scaffolding(module: str) -> bool:
    return any(module == s or module.startswith(s + ".") for s in SCAFFOLDING)


def test_production_code_imports_no_scaffolding():
    offenders = []
    checked = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("demo/"):
            continue
        checked += 1
        package = ".".join(("aidlink", *path.relative_to(PACKAGE).parent.parts))
        for line, module in imported_modules(path.read_text("utf-8"), package):
            if is_scaffolding(module) and (relative, module) not in ALLOWED:
                offenders.append(f"aidlink/{relative}:{line} imports {module}")
    assert checked > 100  # the walk really covered the package
    assert offenders == []


def test_the_check_sees_every_import_form():
    # The detector is not blind: each way of importing scaffolding is caught, in a function too.
    source = (
        "import aidlink.demo.loopback\n"
        "from aidlink.demo import loopback\n"
        "from aidlink import demo\n"
        "def f():\n    from ..demo.run import run\n    import tests.wiretap\n"
    )
    found = [m for _, m in imported_modules(source, "aidlink.gateway") if is_scaffolding(m)]
    assert found == [
        "aidlink.demo.loopback",
        "aidlink.demo.loopback",
        "aidlink.demo",
        "aidlink.demo.run.run",
        "tests.wiretap",
    ]
    assert not is_scaffolding("aidlink.demographics") and not is_scaffolding("testsuite")
