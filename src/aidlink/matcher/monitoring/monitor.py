"""Dynamic monitoring (Art. 14-18) without gRPC: the linkage graph, rule
evaluation into warnings, the warning lifecycle, referrals and feedback.

The graph is rebuilt on demand, after each new dataset version (screening runs on every
upload, in the background: `screen_soon`), and lazily whenever a monitoring call finds a
dataset version newer than the last build. New warnings and inbox items wake the
subscribers (`wait_for_change`), which push them to the nodes. State lives in <data dir>/monitoring.sqlite or the matcher's database (`database`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from aidlink.matcher.agreements import AgreementSet
from aidlink.matcher.calls import Caller
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.datasets import DatasetNotFound, DatasetStore, DatasetVersion
from aidlink.matcher.errors import NotFound, NotPermitted
from aidlink.matcher.join import DatasetJoin
from aidlink.matcher.monitoring.feedback import Feedback, FeedbackDesk
from aidlink.matcher.monitoring.graph import Graph, LinkageGraph
from aidlink.matcher.monitoring.records import ClusterIndex
from aidlink.matcher.monitoring.referrals import ReferralDesk
from aidlink.matcher.monitoring.rules import LinkedRecord, Rule, RuleSet, by_entry
from aidlink.matcher.monitoring.store import MonitoringStore, NewWarning, WarningRow
from aidlink.matcher.monitoring.warnings import WarningLifecycle, check_lead
from aidlink.matcher.request_fields import stored_integer
from aidlink.matcher.state_database import StateTarget

DIVISION_ATTRIBUTE = "division"  # the person's registered division code, derived on the node
HOUSEHOLD_ATTRIBUTE = "household"  # the household pseudonym, keyed on the nodes
REGISTER_DEPARTMENT = "mca"  # whose register a person is "in" (Art. 11: found, not yet assisted)
MATCHER_ACTOR = ("matcher", "matcher: graph rebuild")
SCREEN_QUIET_S = 0.5  # screening waits for this pause in uploads ...
SCREEN_DELAY_MAX_S = 10.0  # ... but no longer than this after the first
SCREEN_CLOSE_WAIT_S = 10.0  # how long closing waits for a screening in progress
log = logging.getLogger("aidlink.matcher.monitoring")


@dataclass(frozen=True)
class WarningContext:
    """What a caseworker needs to route and act on a warning, from its cluster and rule: the
    caller's own records, the departments holding the person, the household pseudonym, whether
    the person is in civil affairs' register, and the rule's suggested action."""

    own_refs: list[tuple[str, str]]
    departments: list[str]
    household: str
    not_in_register: bool
    action: str


@dataclass(frozen=True)
class RebuildSummary:
    datasets: list[str]
    records: int
    clusters: int
    linked_clusters: int
    households: int
    rule_set: str
    raised: int
    auto_closed: int
    open_by_type_level: dict[tuple[str, str], int]


@dataclass(frozen=True)
class Finding:
    rule: Rule
    cluster_id: str
    subject_dataset: str
    region: str


def rule_findings(graph: Graph, rules: RuleSet, region_of: Callable[[str, dict], str]) -> list[Finding]:
    """Every (rule, cluster) the rule set raises on a graph."""
    entry_of = [d.meta.catalog_entry for d in graph.datasets]
    person = [
        by_entry(LinkedRecord(entry_of[d], graph.datasets[d].attributes[i]) for d, i in c.members)
        for c in graph.clusters
    ]
    household_of: dict[int, dict] = {}
    for positions in graph.households.values():
        merged = by_entry(
            LinkedRecord(entry, attrs) for p in positions for entry, records in person[p].items() for attrs in records
        )
        for p in positions:
            household_of[p] = merged
    positive = [(rule, set(rule.positive_entries())) for rule in rules.rules]
    findings = []
    for position, cluster in enumerate(graph.clusters):
        records = person[position]
        household = household_of.get(position, records)
        for rule, entries in positive:
            if entries.isdisjoint(records) or not rule.holds(records, household):
                continue
            d, i = next(
                ((d, i) for d, i in cluster.members if entry_of[d] == rule.subject),
                next((d, i) for d, i in cluster.members if entry_of[d] in entries),
            )
            meta = graph.meta(d)
            # the person's registered division: the subject record's, else another record's
            attributes = graph.datasets[d].attributes[i]
            if not attributes.get(DIVISION_ATTRIBUTE):
                attributes = next(
                    (
                        graph.datasets[m].attributes[j]
                        for m, j in cluster.members
                        if graph.datasets[m].attributes[j].get(DIVISION_ATTRIBUTE)
                    ),
                    attributes,
                )
            findings.append(Finding(rule, cluster.id, meta.qualified_name, region_of(meta.department, attributes)))
    return findings


class Monitor:
    def __init__(
        self,
        data_dir: Path,
        datasets: DatasetStore,
        catalog: Catalog,
        agreements: AgreementSet,
        rules: RuleSet | None = None,
        threshold: float | None = None,  # None: each schema's calibrated threshold
        today: Callable[[], date] = date.today,
        database: StateTarget | None = None,
        joiner: DatasetJoin | None = None,
        screen_on_upload: bool = True,
    ) -> None:
        self.datasets, self.catalog, self.agreements = datasets, catalog, agreements
        self.rules = rules or RuleSet.load(catalog=catalog)
        # State in `database` (a shared Database or a URL); default: <data_dir>/monitoring.sqlite.
        self.store = MonitoringStore(database if database is not None else Path(data_dir) / "monitoring.sqlite")
        self.graph = LinkageGraph(datasets, self.store, threshold, joiner)  # the matcher's one join path
        self.clusters = ClusterIndex(datasets, self.store)
        self.lifecycle = WarningLifecycle(self.store)
        self.referrals = ReferralDesk(self.store, self.lifecycle, agreements, self.clusters, today)
        self.feedback_desk = FeedbackDesk(self.store, self.clusters, agreements, today)
        self._build_lock = threading.RLock()
        # Subscribers wait on `_changed` for a new warning or inbox item (`wait_for_change`).
        self._changed = threading.Condition()
        self._generation = 0
        self.store.on_change(self._notify)
        # Screening on each dataset change: a background thread rebuilds after each commit.
        self._screen = threading.Event()
        self._closing = False
        self._closed = threading.Event()
        self._screener: threading.Thread | None = None
        self._screener_lock = threading.Lock()
        if screen_on_upload:
            datasets.on_commit(lambda _version: self.screen_soon())
            if self.store.last_build() is not None and self.stale():
                self.screen_soon()  # uploads the last run committed but did not screen

    def close(self) -> None:
        self._closing = True
        self._closed.set()
        self._screen.set()
        if self._screener is not None:
            # a screening in progress is not cut short; past this wait it fails on the closed
            # store (logged) and the next start screens again (the graph is then stale)
            self._screener.join(timeout=SCREEN_CLOSE_WAIT_S)
        with self._changed:
            self._generation += 1
            self._changed.notify_all()  # subscribers end
        self.store.close()

    @property
    def closing(self) -> bool:
        return self._closing

    # -- screening and pushing -------------------------------------------------------------------
    def screen_soon(self) -> None:
        """Screens the datasets (graph and rules) in the background, after a dataset changed.
        Uploads in quick succession are screened together."""
        if self._closing:
            return
        self._screen.set()
        with self._screener_lock:
            if self._screener is None:
                self._screener = threading.Thread(target=self._screening, name="monitoring-screen", daemon=True)
                self._screener.start()

    def _screening(self) -> None:
        while True:
            self._screen.wait()
            # uploads in quick succession (a department's datasets, a bulk load) are screened
            # together: wait until none came for SCREEN_QUIET_S (at most SCREEN_DELAY_MAX_S)
            waited = 0.0
            while not self._closing and waited < SCREEN_DELAY_MAX_S:
                self._screen.clear()
                self._closed.wait(SCREEN_QUIET_S)  # wakes at once when the monitor closes
                waited += SCREEN_QUIET_S
                if not self._screen.is_set():
                    break
            if self._closing:
                return
            self._screen.clear()
            try:
                self.ensure_current()
            except Exception:  # a failed screening is retried on the next upload or monitoring call
                if self._closing:  # the store closed under it: the next start screens again
                    return
                log.exception("monitoring: screening after a dataset change failed")

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    @property
    def generation(self) -> int:
        """Counts the changes subscribers are woken for (read it before looking for news)."""
        with self._changed:
            return self._generation

    def wait_for_change(self, generation: int, timeout: float) -> None:
        """Returns when something changed after `generation` was read, or after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation, timeout)

    def wake(self) -> None:
        """Wakes every subscriber (one whose caller has gone away then ends)."""
        self._notify()

    # -- nodes -----------------------------------------------------------------------------------
    def node_seen(self, caller: Caller, certificate_pem: str) -> None:
        """Remembers a node's certificate (to seal disclosures to) and division code (for regions)."""
        if not certificate_pem or caller.kind != "node":
            return
        division = caller.identity.split(" ")[0].rstrip("/").rsplit("/", 1)[-1]
        if self.store.remember_node(
            caller.department, division if division.isdigit() else "", caller.identity, certificate_pem
        ):
            self.referrals.node_seen(caller.department)

    def _regions(self) -> Callable[[str, dict], str]:
        """A record's region: its own `division` attribute, else its department node's division code."""
        nodes: dict[str, str] = {}

        def region(department: str, attributes: dict) -> str:
            if attributes.get(DIVISION_ATTRIBUTE):
                return attributes[DIVISION_ATTRIBUTE]
            if department not in nodes:
                node = self.store.node(department)
                nodes[department] = node.division_code if node else ""
            return nodes[department]

        return region

    # -- the graph and the rules -------------------------------------------------------------------
    def stale(self) -> bool:
        last = self.store.last_build()
        current = [f"{m.qualified_name}@v{m.version}" for m in self.datasets.list_latest()]
        return last is None or sorted(last["datasets"]) != sorted(current) or last["rule_set"] != self.rules.version

    def ensure_current(self) -> None:
        if self.stale():
            with self._build_lock:
                if self.stale():
                    self.rebuild()

    def rebuild(self) -> RebuildSummary:
        with self._build_lock:
            graph = self.graph.build()
            self.graph.save(graph, self.rules.version)
            self.clusters.reload()
            raised, closed = self._sync_warnings(rule_findings(graph, self.rules, self._regions()))
            build = self.store.last_build()
        assert build is not None  # self.graph.save() has just stored one
        open_rows = self.store.find_warnings(statuses=("new", "assigned", "visited", "referred"), limit=10**9)
        return RebuildSummary(
            build["datasets"],
            build["records"],
            build["clusters"],
            build["linked_clusters"],
            build["households"],
            build["rule_set"],
            raised,
            closed,
            dict(Counter((w.type, w.level) for w in open_rows)),
        )

    def _sync_warnings(self, findings: list[Finding]) -> tuple[int, int]:
        existing = self.store.warnings_by_key()
        found = {(f.rule.id, f.cluster_id): f for f in findings}
        new = [
            NewWarning(
                f.rule.id,
                self.rules.version,
                f.rule.type,
                f.rule.level,
                f.rule.reason,
                f.cluster_id,
                f.region,
                f.subject_dataset,
            )
            for key, f in found.items()
            if key not in existing
        ]
        self.store.add_warnings(new, MATCHER_ACTOR)
        closed = 0
        for key, w in existing.items():
            f = found.get(key)
            if f is not None and (f.region, f.subject_dataset) != (w.region, w.subject_dataset):
                self.store.refresh_warning(w.id, f.region, f.subject_dataset)
            elif f is None and w.status == "new":
                closed += self.store.change_warning(
                    w.id,
                    "new",
                    "closed",
                    "",
                    MATCHER_ACTOR,
                    "auto-closed",
                    f"rule {w.rule_id} no longer holds after the graph rebuild",
                )
        return len(new), closed

    # -- warnings --------------------------------------------------------------------------------
    def warnings(self, caller: Caller, **filters) -> list[WarningRow]:
        check_lead(caller, "listing warnings")
        if "after_id" in filters:
            stored_integer(filters["after_id"], "after_id")
        self.ensure_current()
        return self.store.find_warnings(**filters)

    def context(self, warning: WarningRow, department: str) -> WarningContext:
        """The warning's routing context, for `department` (whose own records it lists)."""
        records = self.clusters.records(warning.cluster_id)
        subject = [r for r in records if r.dataset.qualified_name == warning.subject_dataset]
        household = next(
            (r.attributes[HOUSEHOLD_ATTRIBUTE] for r in subject + records if r.attributes.get(HOUSEHOLD_ATTRIBUTE)), ""
        )
        try:
            action = self.rules.rule(warning.rule_id).action
        except KeyError:  # a rule of an earlier rule set
            action = ""
        return WarningContext(
            [(r.dataset.qualified_name, r.ref) for r in records if r.department == department],
            sorted({r.department for r in records}),
            household,
            bool(records) and all(r.department != REGISTER_DEPARTMENT for r in records),
            action,
        )

    def own_refs(self, cluster_id: str, department: str) -> list[tuple[str, str]]:
        """(dataset, ref) of the department's own records in a cluster."""
        return [
            (r.dataset.qualified_name, r.ref) for r in self.clusters.records(cluster_id) if r.department == department
        ]

    def warning(self, caller: Caller, warning_id: int) -> WarningRow:
        check_lead(caller, "reading a warning")
        return self.lifecycle.get(stored_integer(warning_id, "id"))

    # -- feedback ----------------------------------------------------------------------------------
    def feedback(self, caller: Caller, dataset: str, purpose: str) -> Feedback:
        name = dataset
        if "/" in dataset:
            owner, _, name = dataset.partition("/")
            if owner != caller.department:
                raise NotPermitted(f"dataset: {dataset!r} belongs to {owner}; feedback is about your own records")
        try:
            mine: DatasetVersion = self.datasets.latest(caller.department, name)
        except DatasetNotFound as exc:
            raise NotFound(f"dataset: {exc}") from None
        self.ensure_current()
        return self.feedback_desk.feedback(caller.department, mine, purpose)
