"""Choosing the join backend from the matcher's settings."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from prometheus_client import CollectorRegistry

from aidlink.matcher.distributed.local import LocalJoinBackend
from aidlink.matcher.similarity import CandidatePairs

JOIN_BACKENDS = ("local", "dask")
Version = int | str | None


class JoinBackend(Protocol):
    name: str

    def load(self, dataset_key: str, encodings: np.ndarray, *, version: Version = None) -> None: ...

    def loaded_version(self, dataset_key: str) -> Version: ...

    def evict(self, dataset_key: str) -> None: ...

    def candidate_pairs(
        self, query: np.ndarray, dataset_key: str, threshold: float, *, rows: np.ndarray | None = None
    ) -> CandidatePairs: ...

    def close(self) -> None: ...


def open_join_backend(
    join_backend: str = "local",
    dask_scheduler: str | None = None,
    *,
    security=None,
    partitions: int | None = None,
    registry: CollectorRegistry | None = None,
) -> JoinBackend:
    """The backend named by the ``join_backend`` setting (``dask`` needs ``dask_scheduler``)."""
    if join_backend == "local":
        return LocalJoinBackend(registry=registry)
    if join_backend == "dask":
        if not dask_scheduler:
            raise ValueError(
                'join_backend = "dask" needs dask_scheduler, the scheduler address '
                "(e.g. tcp://aidlink-dask-scheduler:8786)"
            )
        from aidlink.matcher.distributed.dask_backend import DaskJoinBackend  # only when Dask is used

        return DaskJoinBackend(dask_scheduler, partitions=partitions, security=security, registry=registry)
    raise ValueError(f"join_backend must be one of {', '.join(JOIN_BACKENDS)}; got {join_backend!r}")
