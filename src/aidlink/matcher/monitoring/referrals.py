"""Referrals (Art. 17 分办、转介): a warning handed to a department's node inbox.

Where the receiving department holds the person, its inbox item names its own
records (opaque references its node resolves locally). Where it does not, and
an agreement with purpose 'referral' lets it receive the case from a department
that holds the person, that department's node is asked to disclose the
identity sealed end-to-end to the receiving node's certificate; the matcher
relays the ciphertext and never sees the identity.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date

from aidlink.matcher.agreements import DEPARTMENTS, Agreement, AgreementSet, Refusal
from aidlink.matcher.calls import Caller
from aidlink.matcher.errors import InvalidInput, NotFound, NotPermitted, Refused
from aidlink.matcher.monitoring.records import ClusterIndex, ClusterRecord
from aidlink.matcher.monitoring.store import MonitoringStore, ReferralRow, WarningMoved, WarningRow
from aidlink.matcher.monitoring.warnings import (
    OPEN,
    TRANSITIONS,
    Conflict,
    InvalidTransition,
    WarningLifecycle,
    check_lead,
)
from aidlink.matcher.request_fields import stored_integer

PURPOSE = "referral"
MAX_DISCLOSURE_BYTES = 64 * 1024
# sent -> received (the node fetched it) -> handled; or awaiting-certificate ->
# awaiting-disclosure -> sent | declined.
STATUSES = ("awaiting-certificate", "awaiting-disclosure", "sent", "received", "handled", "declined")


class ReferralRefused(Refused):
    """FAILED_PRECONDITION: the referral is not in a state that allows this."""


class ReferralDesk:
    def __init__(
        self,
        store: MonitoringStore,
        lifecycle: WarningLifecycle,
        agreements: AgreementSet,
        clusters: ClusterIndex,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.store, self.lifecycle, self.agreements = store, lifecycle, agreements
        self.clusters, self.today = clusters, today

    def get(self, referral_id: int) -> ReferralRow:
        row = self.store.referral(stored_integer(referral_id, "referral_id"))
        if row is None:
            raise NotFound(f"referral {referral_id} does not exist")
        return row

    # -- refer ---------------------------------------------------------------------------------
    def _discloser(
        self, to_department: str, warning: WarningRow, others: list[ClusterRecord]
    ) -> tuple[Agreement, ClusterRecord]:
        subject_department = warning.subject_dataset.partition("/")[0]
        others = sorted(
            others, key=lambda r: (r.department != subject_department, r.department != "mca", r.department, r.index)
        )
        reasons = []
        for record in others:
            found = self.agreements.find(
                user=to_department,
                provider=record.department,
                catalog_entry=record.entry,
                purpose=PURPOSE,
                today=self.today(),
            )
            if isinstance(found, Refusal):
                reasons.append(found.message)
            elif not found.admits(record.attributes):
                reasons.append(f"agreement {found.id} does not cover this {record.entry} record")
            else:
                return found, record
        raise NotPermitted(
            f"warning {warning.id} cannot be referred to {to_department}: " + "; ".join(dict.fromkeys(reasons))
        )

    def refer(self, warning_id: int, to_department: str, caller: Caller, note: str = "") -> ReferralRow:
        check_lead(caller, "referring a warning")
        stored_integer(warning_id, "warning_id")
        if to_department not in DEPARTMENTS:
            raise InvalidInput(f"to_department: {to_department!r} is not a department ({', '.join(DEPARTMENTS)})")
        if len(note) > 1000:
            raise InvalidInput("note: at most 1000 characters")
        warning = self.lifecycle.get(warning_id)
        # Civil affairs asking for the identity of a person it does not hold, to visit them
        # (art15.risk-disclosure-to-mca: 入户核查) may do so before the visit: the visit needs it.
        for_visit = to_department == caller.department
        if for_visit and warning.status not in OPEN:
            raise InvalidTransition(
                f"warning {warning_id} is {warning.status!r}; the identity is asked for an open warning only"
            )
        if not for_visit and "referred" not in TRANSITIONS[warning.status]:
            raise InvalidTransition(
                f"warning {warning_id} is {warning.status!r}; only a visited (or already "
                f"referred) warning can be referred (Art. 16-17: visit first; to learn who the "
                f"person is before the visit, refer it to {caller.department} itself)"
            )
        records = self.clusters.records(warning.cluster_id)
        if not records:
            raise ReferralRefused(f"warning {warning_id}: its cluster is no longer in the linkage graph")
        own = [r for r in records if r.department == to_department]
        before_visit = for_visit and "referred" not in TRANSITIONS[warning.status]
        if for_visit and own:
            raise ReferralRefused(
                f"warning {warning_id}: {caller.department} already holds the person's record "
                f"(its record ids are listed with the warning); nothing to disclose"
            )
        others = [r for r in records if r.department != to_department]
        agreement, holder = self._discloser(to_department, warning, others) if others else (None, None)
        refs = [[r.dataset.qualified_name, r.ref] for r in own]
        agreement_id = agreement.id if agreement else ""
        base = {
            "referral_id": 0,
            "warning_id": warning.id,
            "rule_id": warning.rule_id,
            "type": warning.type,
            "level": warning.level,
            "reason": warning.reason,
            "from": caller.department,
            "note": note,
            "agreement": agreement_id,
        }
        enqueue: tuple[str, str, dict] | None
        if own:
            status, enqueue = "sent", (to_department, "referral", {**base, "refs": refs, "disclosure": ""})
        else:
            assert holder is not None  # every record is another department's, so _discloser found a holder
            node = self.store.node(to_department)
            status = "awaiting-disclosure" if node else "awaiting-certificate"
            enqueue = (
                (
                    holder.department,
                    "disclosure-request",
                    self._disclosure_request(base, holder, to_department, node.certificate),
                )
                if node
                else None
            )
        holder_key = (
            (holder.department, holder.dataset.qualified_name, holder.ref) if holder and not own else ("", "", "")
        )
        try:
            referral_id = self.store.add_referral(
                warning.id,
                caller.department,
                to_department,
                status,
                agreement_id,
                note,
                holder_key,
                refs,
                warning_change=(
                    warning.status,
                    "referred" if "referred" in TRANSITIONS[warning.status] else warning.status,
                    (caller.department, caller.identity),
                    f"referred to {to_department}" if not before_visit else "identity requested for a visit",
                ),
                enqueue=enqueue,
            )
        except WarningMoved as exc:
            raise Conflict(str(exc)) from None
        return self.get(referral_id)

    @staticmethod
    def _disclosure_request(base: dict, holder: ClusterRecord, to_department: str, certificate: str) -> dict:
        return {
            **base,
            "dataset": holder.dataset.qualified_name,
            "ref": holder.ref,
            "recipient": to_department,
            "recipient_certificate": certificate,
        }

    def node_seen(self, department: str) -> None:
        """A node's certificate is now known: ask holders to disclose to it."""
        node = self.store.node(department)
        assert node is not None  # called once the node's certificate is remembered
        for r in self.store.referrals(status="awaiting-certificate", to_department=department):
            warning = self.lifecycle.get(r.warning_id)
            base = {
                "referral_id": r.id,
                "warning_id": r.warning_id,
                "rule_id": warning.rule_id,
                "type": warning.type,
                "level": warning.level,
                "reason": warning.reason,
                "from": r.from_department,
                "note": r.note,
                "agreement": r.agreement,
                "dataset": r.holder_dataset,
                "ref": r.holder_ref,
                "recipient": department,
                "recipient_certificate": node.certificate,
            }
            self.store.update_referral(
                r.id,
                "awaiting-certificate",
                "awaiting-disclosure",
                enqueue=(r.holder_department, "disclosure-request", base),
            )

    # -- disclosure ----------------------------------------------------------------------------
    def submit_disclosure(
        self, referral_id: int, caller: Caller, sealed: bytes, declined_reason: str = ""
    ) -> ReferralRow:
        r = self.get(referral_id)
        if r.holder_department != caller.department:
            raise NotPermitted(
                f"referral {referral_id} asks {r.holder_department or 'no one'} to disclose, not {caller.department}"
            )
        if r.status != "awaiting-disclosure":
            raise ReferralRefused(f"referral {referral_id} is {r.status!r}, not awaiting a disclosure")
        if declined_reason:
            self.store.update_referral(
                r.id,
                r.status,
                "declined",
                outcome=f"declined: {declined_reason[:500]}",
                enqueue=(
                    r.from_department,
                    "referral-outcome",
                    {
                        "referral_id": r.id,
                        "warning_id": r.warning_id,
                        "status": "declined",
                        "outcome": declined_reason[:500],
                    },
                ),
            )
            return self.get(r.id)
        if not sealed or len(sealed) > MAX_DISCLOSURE_BYTES:
            raise InvalidInput(f"sealed_identity: must be 1 to {MAX_DISCLOSURE_BYTES} bytes, got {len(sealed)}")
        warning = self.lifecycle.get(r.warning_id)
        payload = {
            "referral_id": r.id,
            "warning_id": r.warning_id,
            "rule_id": warning.rule_id,
            "type": warning.type,
            "level": warning.level,
            "reason": warning.reason,
            "from": r.from_department,
            "note": r.note,
            "agreement": r.agreement,
            "refs": [],
            "disclosed_by": caller.department,
            "disclosure": base64.b64encode(sealed).decode(),
        }
        if not self.store.update_referral(
            r.id, "awaiting-disclosure", "sent", disclosure=sealed, enqueue=(r.to_department, "referral", payload)
        ):
            raise ReferralRefused(f"referral {referral_id} changed meanwhile; it was not disclosed twice")
        return self.get(r.id)

    # -- the receiving side --------------------------------------------------------------------
    def fetch(self, department: str, after: int, limit: int):
        """Inbox items after `after`; everything up to `after` counts as received."""
        stored_integer(after, "after")
        if not 0 < limit <= 1000:
            raise InvalidInput(f"limit: {limit} is out of range (1 to 1000)")
        self.store.acknowledge(department, after)
        return self.store.inbox(department, after, limit)

    def report(self, referral_id: int, caller: Caller, outcome: str) -> ReferralRow:
        """The receiving department says how it handled the case (closing the loop)."""
        r = self.get(referral_id)
        if r.to_department != caller.department:
            raise NotPermitted(f"referral {referral_id} was sent to {r.to_department}, not {caller.department}")
        if not outcome or len(outcome) > 1000:
            raise InvalidInput("outcome: 1 to 1000 characters")
        if r.status not in ("sent", "received"):
            raise ReferralRefused(
                f"referral {referral_id} is {r.status!r}; only a delivered referral can be reported on"
            )
        self.store.update_referral(
            r.id,
            r.status,
            "handled",
            outcome=outcome,
            enqueue=(
                r.from_department,
                "referral-outcome",
                {"referral_id": r.id, "warning_id": r.warning_id, "status": "handled", "outcome": outcome},
            ),
        )
        return self.get(r.id)
