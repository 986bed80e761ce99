"""The similarity join behind a backend: in process (``local``) or on Dask distributed (``dask``).

``DaskJoinBackend`` and ``dask_security`` import Dask on first use, so the matcher runs
without Dask installed when ``join_backend = "local"``.
"""

from __future__ import annotations

from typing import Any

from aidlink.matcher.distributed.errors import DatasetNotLoaded, JoinFailed
from aidlink.matcher.distributed.local import LocalJoinBackend
from aidlink.matcher.distributed.metrics import JoinMetrics, join_metrics
from aidlink.matcher.distributed.selection import JOIN_BACKENDS, JoinBackend, open_join_backend

__all__ = [
    "JOIN_BACKENDS",
    "DaskJoinBackend",
    "DatasetNotLoaded",
    "JoinBackend",
    "JoinFailed",
    "JoinMetrics",
    "LocalJoinBackend",
    "dask_security",
    "join_metrics",
    "open_join_backend",
]


def __getattr__(name: str) -> Any:
    if name == "DaskJoinBackend":
        from aidlink.matcher.distributed.dask_backend import DaskJoinBackend

        return DaskJoinBackend
    if name == "dask_security":
        from aidlink.matcher.distributed.security import dask_security

        return dask_security
    raise AttributeError(f"module 'aidlink.matcher.distributed' has no attribute {name!r}")
