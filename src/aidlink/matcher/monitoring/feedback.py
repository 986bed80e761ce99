"""Feedback to submitting departments (Art. 14(5)): for the persons a department
submitted, who is already covered by social assistance and who is placed under
monitoring. Only the caller's own records are answered; nothing about anyone else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from aidlink.matcher.agreements import Agreement, AgreementSet, Refusal
from aidlink.matcher.datasets import DatasetVersion
from aidlink.matcher.errors import NotPermitted
from aidlink.matcher.monitoring.records import ClusterIndex
from aidlink.matcher.monitoring.store import MonitoringStore

ASSISTED = ("dibao", "tekun", "bianyuan", "zhichu", "linshi")
MONITORED = "monitored"
LOW_INCOME_ENTRY = "mca.low-income"


@dataclass(frozen=True)
class FeedbackItem:
    ref: str
    status: str  # "assisted" (已纳入社会救助) | "monitored" (不符合条件但纳入监测)
    category: str  # the mca category when the agreement returns it


@dataclass
class Feedback:
    dataset: DatasetVersion
    agreement: Agreement
    items: list[FeedbackItem]


class FeedbackDesk:
    def __init__(
        self,
        store: MonitoringStore,
        clusters: ClusterIndex,
        agreements: AgreementSet,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.store, self.clusters, self.agreements, self.today = store, clusters, agreements, today

    def feedback(self, department: str, mine: DatasetVersion, purpose: str) -> Feedback:
        agreement = self.agreements.find(
            user=department, provider="mca", catalog_entry=LOW_INCOME_ENTRY, purpose=purpose, today=self.today()
        )
        if isinstance(agreement, Refusal):
            raise NotPermitted(agreement.message)
        loaded = self.clusters.datasets.load(mine)
        items = []
        for idx, ref in enumerate(loaded.refs):
            cluster_id = self.clusters.cluster_of(mine.id, idx)
            if cluster_id is None:
                continue
            low_income = [
                r
                for r in self.clusters.records(cluster_id)
                if r.entry == LOW_INCOME_ENTRY and r.department == "mca" and agreement.admits(r.attributes)
            ]
            category = low_income[0].attributes.get("category", "") if low_income else ""
            if category in ASSISTED:
                status = "assisted"
            elif category == MONITORED:
                status = "monitored"
            else:
                continue
            items.append(FeedbackItem(ref, status, category if "category" in agreement.returns else ""))
        return Feedback(mine, agreement, items)
