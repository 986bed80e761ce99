"""Configuration for long-running services: command-line flags, else environment
variables, else a TOML file, else built-in defaults.

`aidlink matcher serve --config matcher.toml` reads keys named like the flags
(`listen = "0.0.0.0:50051"`, `data_dir = "/var/lib/aidlink"`); the environment
variable AIDLINK_<FLAG> (e.g. AIDLINK_LISTEN, AIDLINK_DATA_DIR) overrides the
file; a flag given on the command line overrides both.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

ENV_PREFIX = "AIDLINK_"


class SettingsError(ValueError):
    pass


class InvalidSetting(argparse.ArgumentTypeError, ValueError):
    """A flag's value refused with its own message (argparse shows it; settings files report it)."""


def seconds(text: str) -> float:
    """A deadline flag's value: a positive number of seconds."""
    from aidlink.deadlines import check_deadline

    try:
        return check_deadline(float(text), "a deadline")
    except ValueError as exc:
        raise InvalidSetting(str(exc)) from None


def message_bytes(text: str) -> int:
    """A ``--max-message-bytes`` value: an integer from 1024 to 2^31-1."""
    from aidlink.transport import check_max_message_bytes

    try:
        return check_max_message_bytes(int(text))
    except ValueError as exc:
        raise InvalidSetting(str(exc) if text.strip().lstrip("-").isdigit() else f"not an integer: {text!r}") from None


def _convert(action: argparse.Action, value, source: str):
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"{source}: expected true or false, got {value!r}")
    if action.type is not None and value is not None:
        try:
            return action.type(value)  # type: ignore[operator]  # argparse types are callables
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{source}: {exc}") from None
    return value


def apply_settings(
    parser: argparse.ArgumentParser, config: Path | None, environ: Mapping[str, str] = os.environ
) -> None:
    """Turn the file's and the environment's values into the parser's defaults."""
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config", "func")}
    values: dict[str, object] = {}
    if config is not None:
        try:
            data = tomllib.loads(Path(config).read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"configuration file {config}: {exc}") from None
        unknown = sorted(set(data) - set(actions))
        if unknown:
            raise SettingsError(
                f"configuration file {config}: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(actions))})"
            )
        for key, value in data.items():
            values[key] = _convert(actions[key], value, f"{config}: {key}")
    for dest, action in actions.items():
        name = ENV_PREFIX + dest.upper()
        if name in environ:
            values[dest] = _convert(action, environ[name], f"environment {name}")
    parser.set_defaults(**values)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help=f"TOML file of settings named like the flags; {ENV_PREFIX}<FLAG> "
        f"environment variables override it, flags override both",
    )


def parse_with_settings(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    first, _ = parser.parse_known_args(argv)
    apply_settings(parser, getattr(first, "config", None))
    return parser.parse_args(argv)
