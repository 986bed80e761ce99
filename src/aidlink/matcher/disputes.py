"""Doubtful or wrong data (Art. 20, 23): disputes between a user and a provider department.

A user department flags one of ITS OWN records that matched a provider dataset;
the matcher re-derives which provider record it matched (under the agreement for
the purpose the match was received under), so a department can only flag what
it actually received. The provider acknowledges, then confirms the data, corrects
the record (a new dataset version with that record replaced) or rejects the flag
with a reason; each step is a notification in the other side's inbox. The
provider must answer within `answer_days` working days; later it is overdue.
While a dispute is open the provider record is still served, marked disputed
(`disputed_refs`).
"""

from __future__ import annotations

import builtins
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from aidlink.matcher.datasets import EncodingSpec
from aidlink.matcher.disputes_schema import COMPONENT, MIGRATIONS
from aidlink.matcher.errors import Incompatible, InvalidInput, NotFound, NotPermitted, Refused
from aidlink.matcher.exchange import Exchange
from aidlink.matcher.request_fields import stored_integer, without_nul
from aidlink.matcher.state_database import StateTarget, open_state_database, serialize_writers

OPEN_STATES = ("open", "received")
FINAL_STATES = ("confirmed", "corrected", "rejected")
DEFAULT_ANSWER_DAYS = 5
MAX_REASON = 1000
MAX_WAIT_SECONDS = 30

_COLUMNS = (
    "id, state, flagged_by, provider, user_dataset, user_version, user_ref, provider_dataset,"
    " provider_version, provider_ref, catalog_entry, agreement, purpose, reason, answer, created,"
    " due, corrected_version, updated"
)


class WrongState(Refused):
    """A step the dispute's current state does not allow (FAILED_PRECONDITION)."""


@dataclass(frozen=True)
class Dispute:
    id: str
    state: str
    flagged_by: str
    provider: str
    user_dataset: str
    user_version: int
    user_ref: str
    provider_dataset: str
    provider_version: int
    provider_ref: str
    catalog_entry: str
    agreement: str
    purpose: str
    reason: str
    answer: str
    created: str
    due: str
    corrected_version: int
    updated: str

    def overdue(self, today: date) -> bool:
        return self.state in OPEN_STATES and today > date.fromisoformat(self.due)


@dataclass(frozen=True)
class DisputeEvent:
    seq: int
    kind: str
    dispute: Dispute


def add_working_days(start: date, days: int) -> date:
    """`days` working days (Monday to Friday) after `start`. Public holidays are not modelled."""
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _reason(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput(f"reason: {what} needs a reason")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"reason: {len(text)} characters; at most {MAX_REASON}")
    return text


class DisputeDesk:
    """The matcher's dispute register: states, deadlines, inboxes."""

    def __init__(
        self,
        database: StateTarget,
        exchange: Exchange,
        answer_days: int = DEFAULT_ANSWER_DAYS,
        today: Callable[[], date] = date.today,
    ) -> None:
        """`database`: a shared `Database`, a database URL, or an SQLite file path."""
        self.exchange, self.answer_days, self.today = exchange, answer_days, today
        self.database, self._owns_database = open_state_database(database, COMPONENT, MIGRATIONS)
        self._lock = threading.Lock()
        self._new_event = threading.Condition(self._lock)  # wakes `events` waiters of this process

    # -- reading --------------------------------------------------------------------------------
    def get(self, dispute_id: str) -> Dispute:
        row = self.database.fetch_one(f"SELECT {_COLUMNS} FROM disputes WHERE id=?", (dispute_id,))
        if row is None:
            raise NotFound(f"dispute_id: no dispute {dispute_id!r}")
        return Dispute(*row)

    def _party(self, department: str, dispute_id: str) -> Dispute:
        d = self.get(dispute_id)
        if department not in (d.flagged_by, d.provider):
            raise NotFound(f"dispute_id: no dispute {dispute_id!r}")  # do not confirm it exists
        return d

    def list(self, department: str, role: str = "", open_only: bool = False) -> list[Dispute]:
        if role not in ("", "flagged", "provider"):
            raise InvalidInput(f"role: {role!r} must be 'flagged', 'provider' or empty")
        where, params = [], []
        if role in ("", "flagged"):
            where.append("flagged_by=?")
            params.append(department)
        if role in ("", "provider"):
            where.append("provider=?")
            params.append(department)
        sql = f"SELECT {_COLUMNS} FROM disputes WHERE ({' OR '.join(where)})"
        if open_only:
            sql += f" AND state IN ({','.join('?' * len(OPEN_STATES))})"
            params.extend(OPEN_STATES)
        rows = self.database.fetch_all(sql + " ORDER BY created, id", tuple(params))
        return [Dispute(*r) for r in rows]

    def disputed_refs(self, dataset_qualified_name: str, version: int) -> set[str]:
        """Provider refs in this dataset version under an open dispute: the compare path marks
        matches to them as disputed and still serves them (Art. 23)."""
        rows = self.database.fetch_all(
            f"SELECT provider_ref FROM disputes WHERE provider_dataset=? AND provider_version=?"
            f" AND state IN ({','.join('?' * len(OPEN_STATES))})",
            (dataset_qualified_name, version, *OPEN_STATES),
        )
        return {r[0] for r in rows}

    def events(
        self,
        department: str,
        after: int = 0,
        wait_seconds: float = 0,
        gone: Callable[[], bool] = lambda: False,
    ) -> builtins.list[DisputeEvent]:  # `list` is a method here
        """The department's notifications after seq `after`; waits up to `wait_seconds` for one, and
        stops waiting when `gone()` says the caller left (after a :meth:`wake`)."""
        stored_integer(after, "after")
        wait_seconds = min(max(wait_seconds, 0), MAX_WAIT_SECONDS)
        with self._new_event:
            rows = self._events_after(department, after)
            if not rows and wait_seconds:
                self._new_event.wait_for(lambda: gone() or bool(self._events_after(department, after)), wait_seconds)
                rows = self._events_after(department, after)
        return [DisputeEvent(seq, kind, self.get(did)) for seq, did, kind in rows]

    def wake(self) -> None:
        """Wake every waiting `events` call to check again (e.g. its caller went away)."""
        with self._new_event:
            self._new_event.notify_all()

    def _events_after(self, department: str, after: int) -> builtins.list[tuple[int, str, str]]:
        return self.database.fetch_all(
            "SELECT seq, dispute_id, kind FROM dispute_events WHERE recipient=? AND seq>? ORDER BY seq",
            (department, after),
        )

    # -- the steps ------------------------------------------------------------------------------
    def flag(
        self,
        user: str,
        my_dataset: str,
        my_ref: str,
        other_dataset: str,
        purpose: str,
        reason: str,
        threshold: float = 0.0,
    ) -> Dispute:
        """Flag one of the user's own records that matched `other_dataset`. Which provider record it
        matched is found by a status query of that record through the Exchange, so everything a
        status query must pass (the catalog's matchable check, the agreement, the purpose, the
        threshold, any policy gate on it) applies to a flag too: a department cannot learn through
        a flag what a status query would refuse it."""
        reason = _reason(reason, "flagging a record as doubtful")
        without_nul(other_dataset, "other_dataset")
        mine = self.exchange.own_dataset(user, my_dataset, "my_dataset")
        my_data = self.exchange.store.load(mine)
        try:
            my_index = my_data.refs.index(my_ref)
        except ValueError:
            raise NotFound(f"my_ref: {my_ref!r} is not a record of {mine.qualified_name} v{mine.version}") from None
        found = self.exchange.status(
            user, other_dataset, bytes(my_data.encodings[my_index]), mine.encoding, purpose, threshold
        )
        other, agreement = found.dataset, found.agreement
        if not found.found:
            raise NotFound(
                f"my_ref: {my_ref!r} does not match any record of {other.qualified_name} "
                f"v{other.version} under agreement {agreement.id}; only a matched record can be flagged"
            )
        provider_ref = found.provider_ref
        existing = self.database.fetch_one(
            f"SELECT id FROM disputes WHERE provider_dataset=? AND provider_version=? AND provider_ref=?"
            f" AND flagged_by=? AND state IN ({','.join('?' * len(OPEN_STATES))})",
            (other.qualified_name, other.version, provider_ref, user, *OPEN_STATES),
        )
        if existing:
            raise WrongState(f"this record is already under open dispute {existing[0]}")
        now, dispute_id = _now(), "dsp-" + secrets.token_hex(6)
        due = add_working_days(self.today(), self.answer_days).isoformat()
        with self._new_event:
            with self.database.transaction() as cur:
                cur.execute(
                    self.database.sql(f"INSERT INTO disputes ({_COLUMNS}) VALUES ({','.join('?' * 19)})"),
                    (
                        dispute_id,
                        "open",
                        user,
                        other.department,
                        mine.qualified_name,
                        mine.version,
                        my_ref,
                        other.qualified_name,
                        other.version,
                        provider_ref,
                        other.catalog_entry,
                        agreement.id,
                        purpose,
                        reason,
                        "",
                        now,
                        due,
                        0,
                        now,
                    ),
                )
                self._event(cur, dispute_id, other.department, "flagged", now)
            self._new_event.notify_all()
        return self.get(dispute_id)

    def respond(self, department: str, dispute_id: str, action: str, reason: str = "") -> Dispute:
        d = self._party(department, dispute_id)
        if d.provider != department:
            raise NotPermitted(f"dispute {dispute_id} is answered by its provider {d.provider}, not {department}")
        if action == "acknowledge":
            if d.state != "open":
                raise WrongState(f"dispute {dispute_id} is {d.state}; only an open dispute is acknowledged")
            return self._move(d, "received", "acknowledged", reason.strip())
        if action not in ("confirm", "reject"):
            raise InvalidInput(f"action: {action!r} must be acknowledge, confirm or reject")
        if d.state not in OPEN_STATES:
            raise WrongState(f"dispute {dispute_id} is already {d.state}")
        reason = _reason(reason, f"to {action} a dispute")
        return self._move(
            d,
            "confirmed" if action == "confirm" else "rejected",
            "confirmed" if action == "confirm" else "rejected",
            reason,
        )

    def correct(
        self,
        department: str,
        dispute_id: str,
        encoding: bytes,
        spec: EncodingSpec,
        attributes: Mapping[str, str],
        blocking_keys: Iterable[bytes] = (),
        reason: str = "",
    ) -> Dispute:
        """Replace the disputed record in a new version of the provider dataset (its latest version,
        which must still hold the record) and close the dispute as corrected."""
        d = self._party(department, dispute_id)
        if d.provider != department:
            raise NotPermitted(f"dispute {dispute_id} is corrected by its provider {d.provider}, not {department}")
        if d.state not in OPEN_STATES:
            raise WrongState(f"dispute {dispute_id} is already {d.state}")
        reason = reason.strip() or "record corrected"
        latest = self.exchange.dataset(d.provider_dataset, "provider_dataset")
        if spec != latest.encoding:
            raise Incompatible(
                f"encoding_info: the correction is {spec.describe()} but "
                f"{latest.qualified_name} v{latest.version} is {latest.encoding.describe()}"
            )
        if len(encoding) != latest.encoding.bits // 8:
            raise InvalidInput(f"encoding: has {len(encoding)} bytes, expected {latest.encoding.bits // 8}")
        extra = sorted(set(attributes) - set(latest.attributes))
        if extra:
            raise InvalidInput(
                f"attributes: {', '.join(extra)} not carried by {latest.qualified_name} "
                f"(carried: {', '.join(latest.attributes)})"
            )
        entry = self.exchange.catalog.entry(latest.catalog_entry, latest.catalog_version)
        for key, value in attributes.items():  # typed in the catalog, as at upload: free text never travels
            problem = entry.attribute_problem(key, value, echo=False)
            if problem:
                raise InvalidInput(f"attributes.{key}: {problem} (catalog {entry.id} version {latest.catalog_version})")
        data = self.exchange.store.load(latest)
        if d.provider_ref not in data.refs:
            raise WrongState(
                f"{latest.qualified_name} v{latest.version} no longer holds the disputed record "
                f"(it was re-uploaded); confirm or reject the dispute instead"
            )
        writer = self.exchange.begin_upload(
            department, latest.name, latest.catalog_entry, latest.catalog_version, latest.encoding, latest.attributes
        )
        try:
            keys = _key_rows(data)
            for i, ref in enumerate(data.refs):
                if ref == d.provider_ref:
                    writer.add(ref, bytes(encoding), dict(attributes), list(blocking_keys))
                else:
                    writer.add(ref, bytes(data.encodings[i]), data.attributes[i], keys[i] if keys else ())
            meta = writer.commit()
        except ValueError as exc:
            writer.abort()
            raise InvalidInput(f"correction: {exc}") from None
        except BaseException:
            writer.abort()
            raise
        return self._move(d, "corrected", "corrected", reason, corrected_version=meta.version)

    # -- internals ------------------------------------------------------------------------------
    def _move(self, d: Dispute, state: str, kind: str, answer: str, corrected_version: int = 0) -> Dispute:
        now = _now()
        with self._new_event:
            with self.database.transaction() as cur:
                cur.execute(
                    self.database.sql(
                        "UPDATE disputes SET state=?, answer=CASE WHEN ?='' THEN answer ELSE ? END,"
                        " corrected_version=CASE WHEN ?=0 THEN corrected_version ELSE ? END, updated=?"
                        " WHERE id=? AND state=?"
                    ),
                    (state, answer, answer, corrected_version, corrected_version, now, d.id, d.state),
                )
                if cur.rowcount != 1:
                    raise WrongState(f"dispute {d.id} changed meanwhile; list it again")  # rolls back
                self._event(cur, d.id, d.flagged_by, kind, now)
            self._new_event.notify_all()
        return self.get(d.id)

    def _event(self, cur, dispute_id: str, recipient: str, kind: str, now: str) -> None:
        # Readers page by seq: (PostgreSQL) take the events lock before drawing a seq, so
        # seqs become visible in order.
        serialize_writers(cur, self.database, "dispute events")
        cur.execute(
            self.database.sql("INSERT INTO dispute_events (dispute_id, recipient, kind, time) VALUES (?,?,?,?)"),
            (dispute_id, recipient, kind, now),
        )

    def close(self) -> None:
        """Close the database if this desk opened it (a shared `Database` is closed by its owner)."""
        if self._owns_database:
            self.database.close()


def _key_rows(data) -> list[list[bytes]] | None:
    """Each record's stored blocking keys as the 8-byte tokens that store back to the same keys."""
    blocking = getattr(data, "blocking", None)
    if blocking is None:
        return None
    from aidlink.matcher.similarity.blocking import NO_KEY

    return [[int(k).to_bytes(8, "little") for k in row if k != NO_KEY] for row in blocking.keys]
