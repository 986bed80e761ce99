"""The in-process join backend: the local Dice kernel over the whole dataset."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry

from aidlink.matcher.distributed.errors import DatasetNotLoaded
from aidlink.matcher.distributed.metrics import join_metrics
from aidlink.matcher.distributed.partitions import check_encodings, row_positions
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack

Version = int | str | None


@dataclass(frozen=True)
class _Loaded:
    encodings: np.ndarray
    version: Version


class LocalJoinBackend:
    """``join_backend = "local"``: today's engine behind the join-backend interface."""

    name = "local"

    def __init__(self, *, registry: CollectorRegistry | None = None, threads: int | None = None) -> None:
        self.metrics = join_metrics(registry if registry is not None else CollectorRegistry())
        self.threads = threads
        self._datasets: dict[str, _Loaded] = {}
        # The packed rows of the last filter used per dataset: status queries repeat it.
        self._packed: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}

    def load(self, dataset_key: str, encodings: np.ndarray, *, version: Version = None) -> None:
        """Keep a reference to ``encodings`` (no copy: a memory-mapped array stays mapped)."""
        check_encodings(encodings, f"dataset {dataset_key!r}")
        self._datasets[dataset_key] = _Loaded(encodings, version)
        self._packed.pop(dataset_key, None)

    def loaded_version(self, dataset_key: str) -> Version:
        loaded = self._datasets.get(dataset_key)
        return None if loaded is None else loaded.version

    def evict(self, dataset_key: str) -> None:
        self._datasets.pop(dataset_key, None)
        self._packed.pop(dataset_key, None)

    def candidate_pairs(
        self, query: np.ndarray, dataset_key: str, threshold: float, *, rows: np.ndarray | None = None
    ) -> CandidatePairs:
        """``matcher.similarity.candidate_pairs(query, dataset[rows], threshold)``."""
        loaded = self._datasets.get(dataset_key)
        if loaded is None:
            raise DatasetNotLoaded(dataset_key, self.name)
        check_encodings(query, f"query against dataset {dataset_key!r}")
        if query.shape[1] != loaded.encodings.shape[1]:
            raise ValueError(
                f"query encodings are {query.shape[1] * 8} bits but dataset "
                f"{dataset_key!r} holds {loaded.encodings.shape[1] * 8}-bit encodings"
            )
        started = time.perf_counter()
        pairs = candidate_pairs(
            pack(query), self._packed_rows(dataset_key, loaded, rows), threshold, threads=self.threads
        )
        self.metrics.partition_seconds.labels(self.name, dataset_key).observe(time.perf_counter() - started)
        return pairs

    def _packed_rows(self, dataset_key: str, loaded: _Loaded, rows: np.ndarray | None) -> np.ndarray:
        cached = self._packed.get(dataset_key)
        if cached is not None and (
            cached[0] is rows or (cached[0] is not None and rows is not None and np.array_equal(cached[0], rows))
        ):
            return cached[1]
        row_positions(rows, len(loaded.encodings), dataset_key)  # validates the filter
        b = loaded.encodings if rows is None else loaded.encodings[np.asarray(rows, dtype=np.int64)]
        packed = pack(np.asarray(b))
        self._packed[dataset_key] = (rows, packed)
        return packed

    def close(self) -> None:
        self._datasets.clear()
        self._packed.clear()

    def __enter__(self) -> LocalJoinBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
