"""The `aidlink` command line: one entry point for every part of the system."""

from __future__ import annotations

import argparse
import logging
import sys

# Each top-level command, its one-line help, and the modules that register it (or add
# subcommands to it), in order. Only the modules of the command being run are imported, so
# `aidlink --help` and `aidlink match` do not pay for every part of the system; a test checks
# this table against what the modules register.
BENCH_MODULES = (
    "aidlink.bench.kernel",
    "aidlink.bench.audit",
    "aidlink.bench.scale",
    "aidlink.bench.quality",
    "aidlink.bench.dask",
    "aidlink.bench.privacy",
    "aidlink.bench.encode",
)
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "demo": ("run the whole system on loopback with synthetic data", ("aidlink.demo.run",)),
    "encode": ("normalize and encode an extract into Bloom-filter encodings", ("aidlink.cli.files",)),
    "match": ("match two encoding files locally (ours or clkhash JSON)", ("aidlink.cli.files",)),
    "gateway": (
        "a department's gateway node",
        ("aidlink.cli.gateway_commands", "aidlink.cli.monitoring_commands", "aidlink.cli.bundle_commands"),
    ),
    "node": ("set up a department's gateway node", ("aidlink.cli.node_commands",)),
    "matcher": ("the central matcher", ("aidlink.cli.matcher_commands", "aidlink.cli.bundle_commands")),
    "monitoring": (
        "risk warnings, referrals and feedback through a department's node",
        ("aidlink.cli.monitoring_commands",),
    ),
    "keys": ("key custody: CA, node certificates, linkage secret, audit key", ("aidlink.keys.cli",)),
    "audit": ("security officers' tools: query, verify, prove, export, report", ("aidlink.audit.cli",)),
    "console": ("the security officers' review console (web, mTLS)", ("aidlink.console.cli",)),
    "witness": ("an independent witness that cosigns audit checkpoints", ("aidlink.witness.cli",)),
    "catalog": ("the versioned data-resource catalog (Art. 5-7)", ("aidlink.cli.catalog_commands",)),
    "dispute": ("doubtful or wrong data: flag, answer, correct (Art. 20, 23)", ("aidlink.cli.dispute_commands",)),
    "bench": ("benchmarks and quality evaluations (never timed tests)", ()),
}


def _top_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="aidlink",
        description="Privacy-preserving matching for social-assistance data sharing between departments.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per log line, for log shippers",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    return parser, sub


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command` (only its modules are imported), or for every command (None)."""
    parser, sub = _top_parser()
    wanted = list(COMMANDS) if command is None else [command]
    # A module that adds to several commands (bundle: gateway and matcher) runs once, after
    # every command it adds to exists: at its place in the last command that lists it.
    place: dict[str, tuple[int, int]] = {}
    for i, name in enumerate(wanted):
        for j, module in enumerate(COMMANDS[name][1]):
            place[module] = (i, j)
    for module in sorted(place, key=place.__getitem__):
        _register_optional(sub, module)
    if "bench" in wanted:
        bench = sub.add_parser("bench", help=COMMANDS["bench"][0])
        bench_sub = bench.add_subparsers(dest="bench", metavar="BENCHMARK")
        bench_sub.required = True
        for module in BENCH_MODULES:
            _register_optional(bench_sub, module)
    return parser


def _summary_parser() -> argparse.ArgumentParser:
    """Every command by name and help, nothing imported: for `aidlink --help` and typos."""
    parser, sub = _top_parser()
    for name, (help_text, _) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The top-level command `argv` names, if it names a known one."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--log-format":
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _register_optional(sub, module_name: str) -> None:
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return
    module.register(sub)


def main(argv: list[str] | None = None) -> int:
    from aidlink.cli.settings import SettingsError, apply_settings
    from aidlink.observability.logs import configure_logging

    command = _command_in(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command) if command is not None else _summary_parser()
    args = parser.parse_args(argv)
    settings_parser = getattr(args, "settings_parser", None)
    if settings_parser is not None:  # a service: flags, else AIDLINK_* environment, else --config file
        from aidlink.observability.tracing import TracingSettingsError, check_tracing_settings

        try:
            apply_settings(settings_parser, args.config)
            check_tracing_settings()
        except (SettingsError, TracingSettingsError) as exc:
            parser.exit(2, f"aidlink: {exc}\n")
        args = parser.parse_args(argv)
    configure_logging(logging.INFO if args.verbose or settings_parser else logging.WARNING, args.log_format)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
