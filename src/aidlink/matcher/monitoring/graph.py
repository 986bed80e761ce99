"""The linkage graph: every department's latest dataset versions linked into
pseudonymous person clusters, and clusters into households.

Each pair of datasets made under the same encoding is joined on the matcher's
one join path (matcher.join: blocked where both carry blocking keys, else
exhaustive on the configured backend) with a greedy 1-to-1 solver (the pair's
links are cached per dataset version, so an upload only recomputes the pairs it
takes part in). All pairwise
links are then merged best score first; a merge that would put two records of
the same dataset into one cluster is refused, so chains of near matches cannot
glue different persons together. Cluster ids are opaque and kept across
rebuilds where a cluster keeps records of an unchanged dataset version.
Households come from a keyed `household` token attribute (an HMAC under the
linkage secret, made on the node), when a dataset carries one.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from aidlink.matcher.datasets import DatasetStore, DatasetVersion, LoadedDataset
from aidlink.matcher.join import DatasetJoin
from aidlink.matcher.monitoring.store import MonitoringStore
from aidlink.matcher.schema_policies import schema_policy

HOUSEHOLD_ATTRIBUTE = "household"


@dataclass
class Cluster:
    id: str
    members: list[tuple[int, int]]  # (position of the dataset in Graph.datasets, record index)
    household: str = ""


@dataclass
class Graph:
    datasets: list[LoadedDataset]
    clusters: list[Cluster]
    households: dict[str, list[int]] = field(default_factory=dict)  # household id -> cluster positions

    def by_id(self) -> dict[str, Cluster]:
        return {c.id: c for c in self.clusters}

    def meta(self, position: int) -> DatasetVersion:
        return self.datasets[position].meta


class _Components:
    """Union-find over records that keeps, per component, the set of datasets in it."""

    def __init__(self, dataset_of: np.ndarray) -> None:
        self.parent = list(range(len(dataset_of)))
        self.datasets = [1 << int(d) for d in dataset_of]

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def merge_distinct(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb or self.datasets[ra] & self.datasets[rb]:
            return False  # already together, or the merge would hold one dataset twice
        self.parent[rb] = ra
        self.datasets[ra] |= self.datasets[rb]
        return True


# Opaque cluster ids are drawn from letters only: a random id can then never look like (or be
# mistaken for) a date, an ID number or a phone number in a listing, a log or a disk scan.
# 20 letters, 16 of them: about 69 bits.
CLUSTER_ID_LETTERS = "bcdfghjkmnpqrstvwxyz"


def new_cluster_id() -> str:
    return "c" + "".join(secrets.choice(CLUSTER_ID_LETTERS) for _ in range(16))


class LinkageGraph:
    def __init__(
        self,
        datasets: DatasetStore,
        store: MonitoringStore,
        threshold: float | None = None,
        joiner: DatasetJoin | None = None,
    ) -> None:
        self.dataset_store, self.store, self.threshold = datasets, store, threshold
        self.joiner = joiner if joiner is not None else DatasetJoin()

    def _pair(self, a: LoadedDataset, b: LoadedDataset) -> list[tuple[int, int, float]]:
        # None: the schema's calibrated threshold (both sides share the schema: build() checks)
        threshold = (
            self.threshold if self.threshold is not None else schema_policy(b.meta.encoding).calibrated_threshold
        )
        cached = self.store.pair_links(a.meta.id, b.meta.id, threshold)
        if cached is not None:
            return cached
        outcome = self.joiner.match(a.encodings, b, None, threshold, all_pairs=False, mine_blocking=a.blocking)
        links = [(int(link.mine), int(link.other), float(link.score)) for link in outcome.links]
        self.store.save_pair_links(a.meta.id, b.meta.id, threshold, links)
        return links

    def build(self) -> Graph:
        """Links the latest version of every dataset; stores and returns the clusters."""
        metas = sorted(self.dataset_store.list_latest(), key=lambda m: m.id)
        loaded = [self.dataset_store.load(m) for m in metas]
        self.store.forget_pairs_except(m.id for m in metas)
        offsets = np.cumsum([0] + [len(d.refs) for d in loaded])
        dataset_of = np.repeat(np.arange(len(loaded)), [len(d.refs) for d in loaded])
        links: list[tuple[float, int, int]] = []
        for (i, a), (j, b) in combinations(enumerate(loaded), 2):
            if a.meta.encoding != b.meta.encoding:
                continue  # never compared: other secret version, schema or length
            links.extend((s, int(offsets[i]) + x, int(offsets[j]) + y) for x, y, s in self._pair(a, b))
        links.sort(key=lambda link: (-link[0], link[1], link[2]))
        components = _Components(dataset_of)
        for _, x, y in links:
            components.merge_distinct(x, y)
        groups: dict[int, list[int]] = defaultdict(list)
        for node in range(len(dataset_of)):
            groups[components.find(node)].append(node)
        clusters = [
            Cluster("", [(int(dataset_of[n]), n - int(offsets[dataset_of[n]])) for n in nodes])
            for nodes in groups.values()
        ]
        self._name_clusters(clusters, loaded)
        graph = Graph(loaded, clusters)
        self._households(graph)
        return graph

    def _name_clusters(self, clusters: list[Cluster], loaded: list[LoadedDataset]) -> None:
        """Reuse the id of the old cluster sharing most records of unchanged versions."""
        previous = self.store.cluster_assignments()
        taken: set[str] = set()
        for cluster in sorted(clusters, key=lambda c: -len(c.members)):
            votes = Counter(
                previous[key] for key in ((loaded[d].meta.id, i) for d, i in cluster.members) if key in previous
            )
            for cid, _ in votes.most_common():
                if cid not in taken:
                    cluster.id = cid
                    break
            else:
                cluster.id = new_cluster_id()
            taken.add(cluster.id)

    @staticmethod
    def _households(graph: Graph) -> None:
        """Clusters sharing a household token within a dataset form one household."""
        parent = list(range(len(graph.clusters)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        first_with: dict[tuple[int, str], int] = {}
        for position, cluster in enumerate(graph.clusters):
            for d, i in cluster.members:
                token = graph.datasets[d].attributes[i].get(HOUSEHOLD_ATTRIBUTE, "")
                if not token:
                    continue
                other = first_with.setdefault((d, token), position)
                parent[find(position)] = find(other)
        members: dict[int, list[int]] = defaultdict(list)
        for position in range(len(graph.clusters)):
            members[find(position)].append(position)
        for positions in members.values():
            if len(positions) > 1:
                hid = graph.clusters[min(positions, key=lambda p: graph.clusters[p].id)].id
                graph.households["h" + hid[1:]] = positions
                for p in positions:
                    graph.clusters[p].household = "h" + hid[1:]

    def save(self, graph: Graph, rule_set: str) -> None:
        members = [(graph.datasets[d].meta.id, i, c.id) for c in graph.clusters for d, i in c.members]
        households = [(c.id, c.household) for c in graph.clusters if c.household]
        self.store.replace_graph(
            members,
            households,
            {
                "datasets": [f"{d.meta.qualified_name}@v{d.meta.version}" for d in graph.datasets],
                "records": len(members),
                "clusters": len(graph.clusters),
                "linked_clusters": sum(len(c.members) > 1 for c in graph.clusters),
                "households": len(graph.households),
                "rule_set": rule_set,
            },
        )
