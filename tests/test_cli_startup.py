"""`aidlink --help` and `aidlink match` start without importing the whole system (issue 16: the
parser used to import every module, 1.8 s before anything ran). Checked by what is imported, not
by timing: a module that is not imported costs nothing, on any machine."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from aidlink.cli.main import COMMANDS, build_parser

HEAVY = ("numba", "pypinyin", "grpc", "cryptography", "opentelemetry", "aidlink.matcher", "aidlink.gateway")


def _imported_after(argv: list[str]) -> set[str]:
    script = (
        "import sys\n"
        "from aidlink.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_top_level_help_imports_nothing_heavy():
    assert _heavy(_imported_after(["--help"])) == []


def test_a_mistyped_command_imports_nothing_heavy():
    assert _heavy(_imported_after(["gatway", "serve"])) == []


def test_match_help_needs_neither_the_record_pipeline_nor_grpc():
    assert _heavy(_imported_after(["match", "--help"])) == []


def test_gateway_help_imports_the_gateway_commands_only():
    modules = _imported_after(["gateway", "--help"])
    assert "aidlink.cli.gateway_commands" in modules and "aidlink.bench.scale" not in modules
    assert "aidlink.audit.cli" not in modules


def _top_level_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {a.dest: a.help for a in sub._choices_actions}


def test_the_command_table_matches_what_the_modules_register():
    registered = _top_level_help(build_parser())
    assert {name: help_text for name, (help_text, _) in COMMANDS.items()} == registered


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_alone_builds_its_full_parser(command):
    full = build_parser()
    alone = build_parser(command)

    def subcommands(parser: argparse.ArgumentParser) -> set[str]:
        [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        target = sub.choices[command]
        return {name for a in target._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices}

    assert subcommands(alone) == subcommands(full)
