"""Import anonlink on setuptools releases that no longer ship ``pkg_resources``.

anonlink 0.15.x does ``import pkg_resources`` in its ``__init__`` only to read its
own version string. ``pkg_resources`` was removed from setuptools 81, so a plain
``import anonlink`` fails on current environments. We do not pin an old setuptools
instead: setuptools is a build tool shared with the rest of the environment (and with
our own ``pyproject.toml`` build, which needs setuptools>=77), old releases stop
receiving security fixes, and pinning it would hold every other package back for the
sake of one version lookup. A minimal stand-in answering ``get_distribution(name)
.version`` from :mod:`importlib.metadata` covers exactly what anonlink uses.

All aidlink code imports anonlink through :func:`import_anonlink`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import types
from dataclasses import dataclass

_STAND_IN_NAME = "pkg_resources"


@dataclass(frozen=True)
class _Distribution:
    """The one attribute of ``pkg_resources.Distribution`` anonlink reads."""

    project_name: str
    version: str


def _get_distribution(name: str) -> _Distribution:
    """Stand-in for ``pkg_resources.get_distribution`` (version lookup only)."""
    return _Distribution(project_name=name, version=importlib.metadata.version(name))


def _pkg_resources_importable() -> bool:
    if _STAND_IN_NAME in sys.modules:
        return True
    try:
        importlib.import_module(_STAND_IN_NAME)
    except ImportError:
        return False
    return True


def _install_stand_in() -> None:
    module = types.ModuleType(
        _STAND_IN_NAME,
        "aidlink stand-in for the removed setuptools pkg_resources: provides only get_distribution(name).version.",
    )
    module.get_distribution = _get_distribution  # type: ignore[attr-defined]
    sys.modules[_STAND_IN_NAME] = module


def import_anonlink() -> types.ModuleType:
    """Return the ``anonlink`` module, working around the missing ``pkg_resources``."""
    if "anonlink" in sys.modules:
        return sys.modules["anonlink"]
    if not _pkg_resources_importable():
        _install_stand_in()
    return importlib.import_module("anonlink")
