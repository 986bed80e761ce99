"""The `aidlink` command line: one entry point for every part of the system."""

from __future__ import annotations

import argparse
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    from aidlink.cli import files, gateway_commands, matcher_commands
    from aidlink.demo import run as demo
    from aidlink.keys.cli import register as register_keys

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
    demo.register(sub)
    files.register(sub)
    gateway_commands.register(sub)
    matcher_commands.register(sub)
    _register_optional(sub, "aidlink.cli.monitoring_commands")  # after gateway: adds `gateway download`
    register_keys(sub)
    _register_optional(sub, "aidlink.audit.cli")
    for module in ("aidlink.cli.catalog_commands", "aidlink.cli.dispute_commands", "aidlink.cli.bundle_commands"):
        _register_optional(sub, module)
    bench = sub.add_parser("bench", help="benchmarks and quality evaluations (never timed tests)")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCHMARK")
    bench_sub.required = True
    for module in (
        "aidlink.bench.kernel",
        "aidlink.bench.audit",
        "aidlink.bench.scale",
        "aidlink.bench.quality",
        "aidlink.bench.dask",
        "aidlink.bench.privacy",
    ):
        _register_optional(bench_sub, module)
    return parser


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

    parser = build_parser()
    args = parser.parse_args(argv)
    settings_parser = getattr(args, "settings_parser", None)
    if settings_parser is not None:  # a service: flags, else AIDLINK_* environment, else --config file
        try:
            apply_settings(settings_parser, args.config)
        except SettingsError as exc:
            parser.exit(2, f"aidlink: {exc}\n")
        args = parser.parse_args(argv)
    configure_logging(logging.INFO if args.verbose or settings_parser else logging.WARNING, args.log_format)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
