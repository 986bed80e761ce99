"""The stored linkage graph read back: which records (dataset version, position,
opaque reference, catalog attributes) make up each cluster."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from aidlink.matcher.datasets import DatasetStore, DatasetVersion
from aidlink.matcher.monitoring.store import MonitoringStore


@dataclass(frozen=True)
class ClusterRecord:
    dataset: DatasetVersion
    index: int
    ref: str
    attributes: Mapping[str, str]

    @property
    def department(self) -> str:
        return self.dataset.department

    @property
    def entry(self) -> str:
        return self.dataset.catalog_entry


class ClusterIndex:
    """Cluster membership of the last stored graph, loaded once and after each rebuild."""

    def __init__(self, datasets: DatasetStore, store: MonitoringStore) -> None:
        self.datasets, self.store = datasets, store
        self._lock = threading.Lock()
        self._members: dict[str, list[tuple[int, int]]] | None = None
        self._of: dict[tuple[int, int], str] = {}
        self._metas: dict[int, DatasetVersion] = {}

    def reload(self) -> None:
        with self._lock:
            self._of = self.store.cluster_assignments()
            members: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for key, cid in self._of.items():
                members[cid].append(key)
            self._members = dict(members)

    def _ensure(self) -> dict[str, list[tuple[int, int]]]:
        if self._members is None:
            self.reload()
        assert self._members is not None  # reload() always sets it
        return self._members

    def meta(self, version_id: int) -> DatasetVersion:
        meta = self._metas.get(version_id)
        if meta is None:
            # DatasetStore has no public lookup by id; versions in the graph always exist.
            meta = self._metas[version_id] = self.datasets.meta_by_id(version_id)
        return meta

    def records(self, cluster_id: str) -> list[ClusterRecord]:
        members = self._ensure()
        out = []
        for version_id, idx in sorted(members.get(cluster_id, ())):
            meta = self.meta(version_id)
            loaded = self.datasets.load(meta)
            out.append(ClusterRecord(meta, idx, loaded.refs[idx], loaded.attributes[idx]))
        return out

    def cluster_of(self, version_id: int, idx: int) -> str | None:
        self._ensure()
        return self._of.get((version_id, idx))

    def version_ids(self) -> set[int]:
        self._ensure()
        return {v for v, _ in self._of}
