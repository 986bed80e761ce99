"""The lifecycle of a risk warning (Art. 16-17), every change recorded with who and when.

    new -> assigned -> visited -> admitted | referred | closed
(new and assigned may also be closed; assigned may be re-assigned; a referred
warning may be referred again or closed). Admitted and closed are final.
"""

from __future__ import annotations

from aidlink.matcher.calls import Caller
from aidlink.matcher.errors import InvalidInput, NotFound, NotPermitted, Refused
from aidlink.matcher.monitoring.store import MonitoringStore, WarningRow
from aidlink.matcher.request_fields import stored_integer

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("assigned", "closed"),
    "assigned": ("assigned", "visited", "closed"),
    "visited": ("admitted", "referred", "closed"),
    "referred": ("referred", "closed"),
    "admitted": (),
    "closed": (),
}
STATUSES = tuple(TRANSITIONS)
OPEN = ("new", "assigned", "visited", "referred")
# Civil affairs leads monitoring (Art. 15-17): it manages warnings; other
# departments receive the cases referred to them.
LEAD_DEPARTMENTS = ("mca",)


class Conflict(Refused):
    """The warning changed while the request was under way (FAILED_PRECONDITION)."""


class InvalidTransition(Refused):
    """A lifecycle step the warning's current state does not allow (FAILED_PRECONDITION)."""


def check_lead(caller: Caller, what: str) -> None:
    if caller.department not in LEAD_DEPARTMENTS:
        raise NotPermitted(
            f"{what} is for {' or '.join(LEAD_DEPARTMENTS)} (civil affairs leads monitoring, "
            f"Art. 15-17); {caller.department} receives the cases referred to it in its inbox"
        )


class WarningLifecycle:
    def __init__(self, store: MonitoringStore) -> None:
        self.store = store

    def get(self, warning_id: int) -> WarningRow:
        row = self.store.warning(warning_id)
        if row is None:
            raise NotFound(f"warning {warning_id} does not exist")
        return row

    def change(
        self, warning_id: int, to_status: str, caller: Caller, *, assignee: str = "", note: str = "", action: str = ""
    ) -> WarningRow:
        """Moves a warning to `to_status`, or refuses naming the allowed next states."""
        check_lead(caller, "changing a warning")
        stored_integer(warning_id, "id")
        if to_status not in STATUSES:
            raise InvalidInput(f"status: {to_status!r} is not a warning status (one of {', '.join(STATUSES)})")
        if len(note) > 1000 or len(assignee) > 128:
            raise InvalidInput("note (at most 1000 characters) or assignee (at most 128) is too long")
        row = self.get(warning_id)
        allowed = TRANSITIONS[row.status]
        if to_status not in allowed:
            nexts = ", ".join(allowed) if allowed else "none: it is final"
            raise InvalidTransition(
                f"warning {warning_id} is {row.status!r}; it cannot become {to_status!r} (allowed next: {nexts})"
            )
        if to_status == "assigned" and not assignee:
            raise InvalidInput(f"warning {warning_id}: 'assigned' needs an assignee (a county office or case worker)")
        assignee = assignee or row.assignee
        if not self.store.change_warning(
            warning_id, row.status, to_status, assignee, (caller.department, caller.identity), action or to_status, note
        ):
            raise Conflict(f"warning {warning_id} was changed by someone else meanwhile; read it and retry")
        return self.get(warning_id)
