"""Service configuration: flags over AIDLINK_* environment over a TOML file."""

import argparse
import json
import logging

import pytest

from aidlink.cli.settings import SettingsError, add_config_option, apply_settings
from aidlink.observability.logs import JsonFormatter


def parser():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:50051")
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--insecure-dev", action="store_true")
    add_config_option(p)
    return p


def test_file_then_environment_then_flags(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text('listen = "0.0.0.0:6000"\nthreshold = 0.9\ninsecure_dev = true\n')
    p = parser()
    apply_settings(p, cfg, environ={})
    args = p.parse_args([])
    assert (args.listen, args.threshold, args.insecure_dev) == ("0.0.0.0:6000", 0.9, True)
    p = parser()
    apply_settings(p, cfg, environ={"AIDLINK_THRESHOLD": "0.85", "AIDLINK_INSECURE_DEV": "false"})
    args = p.parse_args(["--listen", "127.0.0.1:7000"])
    assert (args.listen, args.threshold, args.insecure_dev) == ("127.0.0.1:7000", 0.85, False)


def test_bad_settings_are_named(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text('lisen = "x"\n')
    with pytest.raises(SettingsError, match="unknown setting\\(s\\) lisen"):
        apply_settings(parser(), cfg, environ={})
    with pytest.raises(SettingsError, match="environment AIDLINK_THRESHOLD"):
        apply_settings(parser(), None, environ={"AIDLINK_THRESHOLD": "high"})
    with pytest.raises(SettingsError, match="expected true or false"):
        apply_settings(parser(), None, environ={"AIDLINK_INSECURE_DEV": "maybe"})


def test_json_log_lines():
    record = logging.makeLogRecord(
        {
            "name": "aidlink.matcher",
            "levelname": "INFO",
            "msg": "listening on %s",
            "args": ("127.0.0.1:1",),
            "department": "edu",
        }
    )
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "listening on 127.0.0.1:1" and data["department"] == "edu"
    assert data["level"] == "info" and data["logger"] == "aidlink.matcher"


def test_logs_follow_stderr_when_it_is_swapped_and_closed(monkeypatch):
    """A command run in process (here: as tests run it) configures logging while stderr is one
    stream; a thread it started logs after that stream was closed and replaced. The record goes
    to the stderr of the moment, and no "--- Logging error ---" traceback is printed."""
    import io
    import logging

    from aidlink.observability.logs import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr("sys.stderr", first)
        configure_logging(logging.INFO)
        root.info("while the first stream is open")
        first.close()
        monkeypatch.setattr("sys.stderr", second)
        root.info("after it was closed")  # the root logger: no other level or handler in the way
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    written = second.getvalue()
    assert "after it was closed" in written and "Logging error" not in written
