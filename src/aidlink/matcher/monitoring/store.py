"""All of the monitoring state's SQL, in one place: portable SQL (``?`` placeholders
through `Database.sql`) run on the matcher's database, SQLite (embedded default:
<data dir>/monitoring.sqlite) or PostgreSQL. The schema is matcher.monitoring.schema.

What is stored is pseudonymous: dataset version ids and record positions,
opaque cluster ids, rule outcomes, node certificates and, for a referral with
disclosure, only the ciphertext the holding node sealed to the receiving node.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aidlink.matcher.monitoring.schema import COMPONENT, MIGRATIONS
from aidlink.matcher.state_database import StateTarget, open_state_database, serialize_writers

WARNING_COLUMNS = (
    "id, rule_id, rule_set, type, level, reason, cluster_id, region, subject_dataset, status,"
    " assignee, created_at, updated_at"
)
REFERRAL_COLUMNS = (
    "id, warning_id, from_department, to_department, status, agreement, note,"
    " holder_department, holder_dataset, holder_ref, recipient_refs, disclosure, outcome,"
    " created_at, updated_at"
)


@dataclass(frozen=True)
class WarningRow:
    id: int
    rule_id: str
    rule_set: str
    type: str
    level: str
    reason: str
    cluster_id: str
    region: str
    subject_dataset: str
    status: str
    assignee: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class WarningEvent:
    warning_id: int
    at: float
    department: str
    identity: str
    action: str
    from_status: str
    to_status: str
    assignee: str
    note: str


@dataclass(frozen=True)
class ReferralRow:
    id: int
    warning_id: int
    from_department: str
    to_department: str
    status: str
    agreement: str
    note: str
    holder_department: str
    holder_dataset: str
    holder_ref: str
    recipient_refs: list  # [[dataset, ref], ...] of the recipient's own records
    disclosure: bytes | None
    outcome: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class InboxRow:
    seq: int
    department: str
    kind: str
    referral_id: int
    payload: dict
    created_at: float


@dataclass(frozen=True)
class NodeRow:
    department: str
    division_code: str
    identity: str
    certificate: str


@dataclass(frozen=True)
class NewWarning:
    rule_id: str
    rule_set: str
    type: str
    level: str
    reason: str
    cluster_id: str
    region: str
    subject_dataset: str


class WarningMoved(Exception):
    """A warning changed between reading it and writing it."""


class MonitoringStore:
    """Monitoring state in `database`: a shared `Database`, a database URL, or an SQLite file path."""

    def __init__(self, database: StateTarget) -> None:
        self.database, self._owns_database = open_state_database(database, COMPONENT, MIGRATIONS)
        self._listeners: list[Callable[[], None]] = []
        self._local = threading.local()  # whether this thread's transaction added something to push

    def on_change(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after each commit that added an inbox item or a warning (to wake subscribers)."""
        self._listeners.append(listener)

    def close(self) -> None:
        """Close the database if this store opened it (a shared `Database` is closed by its owner)."""
        if self._owns_database:
            self.database.close()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        self._local.changed = False
        with self.database.transaction() as cur:
            yield cur
        if self._local.changed:  # committed: now a subscriber reading it finds it
            self._local.changed = False
            for listener in self._listeners:
                listener()

    def _run(self, cur: Any, sql: str, params: Sequence = ()) -> Any:
        cur.execute(self.database.sql(sql), tuple(params))
        return cur

    # -- pairwise links (a cache keyed by dataset versions) ------------------------------------
    def pair_links(self, a_version: int, b_version: int, threshold: float) -> list[tuple[int, int, float]] | None:
        with self.database.reading() as cur:
            known = self._run(
                cur,
                "SELECT links FROM pair_runs WHERE a_version=? AND b_version=? AND threshold=?",
                (a_version, b_version, threshold),
            ).fetchone()
            if known is None:
                return None
            return self._run(
                cur,
                "SELECT a_idx, b_idx, score FROM pair_links WHERE a_version=? AND b_version=? AND threshold=?",
                (a_version, b_version, threshold),
            ).fetchall()

    def save_pair_links(
        self, a_version: int, b_version: int, threshold: float, links: Sequence[tuple[int, int, float]]
    ) -> None:
        with self._tx() as cur:
            self._run(
                cur,
                "DELETE FROM pair_links WHERE a_version=? AND b_version=? AND threshold=?",
                (a_version, b_version, threshold),
            )
            cur.executemany(
                self.database.sql(
                    "INSERT INTO pair_links (a_version, b_version, threshold, a_idx, b_idx, score) VALUES (?,?,?,?,?,?)"
                ),
                [(a_version, b_version, threshold, a, b, s) for a, b, s in links],
            )
            self._run(
                cur,
                "INSERT INTO pair_runs (a_version, b_version, threshold, links, computed_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (a_version, b_version, threshold)"
                " DO UPDATE SET links=excluded.links, computed_at=excluded.computed_at",
                (a_version, b_version, threshold, len(links), time.time()),
            )

    def forget_pairs_except(self, current_versions: Iterable[int]) -> None:
        """Drop cached links of dataset versions that are no longer the latest."""
        current = sorted(set(current_versions))
        marks = ",".join("?" * len(current)) or "NULL"
        with self._tx() as cur:
            for table in ("pair_links", "pair_runs"):
                self._run(
                    cur,
                    f"DELETE FROM {table} WHERE a_version NOT IN ({marks}) OR b_version NOT IN ({marks})",
                    current + current,
                )

    # -- clusters ------------------------------------------------------------------------------
    def cluster_assignments(self) -> dict[tuple[int, int], str]:
        return {
            (v, i): c
            for v, i, c in self.database.fetch_all("SELECT dataset_version, idx, cluster_id FROM cluster_members")
        }

    def replace_graph(
        self, members: Iterable[tuple[int, int, str]], households: Iterable[tuple[str, str]], summary: dict
    ) -> int:
        sql = self.database.sql
        with self._tx() as cur:
            cur.execute("DELETE FROM cluster_members")
            cur.execute("DELETE FROM cluster_households")
            cur.executemany(
                sql("INSERT INTO cluster_members (dataset_version, idx, cluster_id) VALUES (?,?,?)"), list(members)
            )
            cur.executemany(
                sql("INSERT INTO cluster_households (cluster_id, household_id) VALUES (?,?)"), list(households)
            )
            return self._run(
                cur,
                "INSERT INTO graph_builds (built_at, datasets, records, clusters, linked_clusters,"
                " households, rule_set) VALUES (?,?,?,?,?,?,?) RETURNING id",
                (
                    time.time(),
                    json.dumps(summary["datasets"]),
                    summary["records"],
                    summary["clusters"],
                    summary["linked_clusters"],
                    summary["households"],
                    summary["rule_set"],
                ),
            ).fetchone()[0]

    def cluster_members(self, cluster_id: str) -> list[tuple[int, int]]:
        return [
            tuple(r)
            for r in self.database.fetch_all(
                "SELECT dataset_version, idx FROM cluster_members WHERE cluster_id=? ORDER BY dataset_version, idx",
                (cluster_id,),
            )
        ]

    def last_build(self) -> dict | None:
        row = self.database.fetch_one(
            "SELECT id, built_at, datasets, records, clusters, linked_clusters,"
            " households, rule_set FROM graph_builds ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        keys = ("id", "built_at", "datasets", "records", "clusters", "linked_clusters", "households", "rule_set")
        out = dict(zip(keys, row))
        out["datasets"] = json.loads(out["datasets"])
        return out

    # -- warnings ------------------------------------------------------------------------------
    def warnings_by_key(self) -> dict[tuple[str, str], WarningRow]:
        rows = self.database.fetch_all(f"SELECT {WARNING_COLUMNS} FROM warnings")
        return {(r[1], r[6]): WarningRow(*r) for r in rows}

    def add_warnings(self, new: Sequence[NewWarning], actor: tuple[str, str]) -> list[int]:
        now, ids = time.time(), []
        with self._tx() as cur:
            for w in new:
                (wid,) = self._run(
                    cur,
                    "INSERT INTO warnings (rule_id, rule_set, type, level, reason, cluster_id,"
                    " region, subject_dataset, status, assignee, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,'new','',?,?) RETURNING id",
                    (
                        w.rule_id,
                        w.rule_set,
                        w.type,
                        w.level,
                        w.reason,
                        w.cluster_id,
                        w.region,
                        w.subject_dataset,
                        now,
                        now,
                    ),
                ).fetchone()
                ids.append(wid)
                self._local.changed = True
                self._event(cur, wid, now, actor, "raised", "", "new", "", f"rule set {w.rule_set}")
        return ids

    def refresh_warning(self, warning_id: int, region: str, subject_dataset: str) -> None:
        with self._tx() as cur:
            self._run(
                cur, "UPDATE warnings SET region=?, subject_dataset=? WHERE id=?", (region, subject_dataset, warning_id)
            )

    def warning(self, warning_id: int) -> WarningRow | None:
        row = self.database.fetch_one(f"SELECT {WARNING_COLUMNS} FROM warnings WHERE id=?", (warning_id,))
        return WarningRow(*row) if row else None

    def find_warnings(
        self,
        *,
        levels: Sequence[str] = (),
        types: Sequence[str] = (),
        statuses: Sequence[str] = (),
        region_prefix: str = "",
        cluster_ids: Sequence[str] = (),
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[WarningRow]:
        sql = f"SELECT {WARNING_COLUMNS} FROM warnings WHERE id > ?"
        args: list[int | str] = [after_id]
        for column, values in (("level", levels), ("type", types), ("status", statuses), ("cluster_id", cluster_ids)):
            if values:
                sql += f" AND {column} IN ({','.join('?' * len(values))})"
                args.extend(values)
        if region_prefix:
            sql += " AND substr(region, 1, ?) = ?"
            args.extend([len(region_prefix), region_prefix])
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [WarningRow(*r) for r in self.database.fetch_all(sql, args)]

    def change_warning(
        self,
        warning_id: int,
        expected_status: str,
        to_status: str,
        assignee: str,
        actor: tuple[str, str],
        action: str,
        note: str,
    ) -> bool:
        """Moves a warning on if it is still in `expected_status` (False if it moved meanwhile)."""
        now = time.time()
        with self._tx() as cur:
            changed = self._run(
                cur,
                "UPDATE warnings SET status=?, assignee=?, updated_at=? WHERE id=? AND status=?",
                (to_status, assignee, now, warning_id, expected_status),
            ).rowcount
            if changed:
                self._event(cur, warning_id, now, actor, action, expected_status, to_status, assignee, note)
        return bool(changed)

    def warning_events(self, warning_id: int) -> list[WarningEvent]:
        rows = self.database.fetch_all(
            "SELECT warning_id, at, department, identity, action, from_status,"
            " to_status, assignee, note FROM warning_events WHERE warning_id=?"
            " ORDER BY id",
            (warning_id,),
        )
        return [WarningEvent(*r) for r in rows]

    def _event(
        self,
        cur,
        warning_id: int,
        at: float,
        actor: tuple[str, str],
        action: str,
        from_status: str,
        to_status: str,
        assignee: str,
        note: str,
    ) -> None:
        self._run(
            cur,
            "INSERT INTO warning_events (warning_id, at, department, identity, action, from_status,"
            " to_status, assignee, note) VALUES (?,?,?,?,?,?,?,?,?)",
            (warning_id, at, actor[0], actor[1], action, from_status, to_status, assignee, note),
        )

    # -- nodes ---------------------------------------------------------------------------------
    def remember_node(self, department: str, division_code: str, identity: str, certificate: str) -> bool:
        """Records a node's certificate; True when it is new or changed."""
        old = self.database.fetch_one("SELECT certificate, division_code FROM nodes WHERE department=?", (department,))
        if old is not None and tuple(old) == (certificate, division_code):
            return False
        with self._tx() as cur:
            self._run(
                cur,
                "INSERT INTO nodes (department, division_code, identity, certificate, seen_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (department) DO UPDATE SET"
                " division_code=excluded.division_code, identity=excluded.identity,"
                " certificate=excluded.certificate, seen_at=excluded.seen_at",
                (department, division_code, identity, certificate, time.time()),
            )
        return True

    def node(self, department: str) -> NodeRow | None:
        row = self.database.fetch_one(
            "SELECT department, division_code, identity, certificate FROM nodes WHERE department=?", (department,)
        )
        return NodeRow(*row) if row else None

    # -- referrals and inboxes -----------------------------------------------------------------
    def add_referral(
        self,
        warning_id: int,
        from_department: str,
        to_department: str,
        status: str,
        agreement: str,
        note: str,
        holder: tuple[str, str, str],
        recipient_refs: list,
        *,
        warning_change: tuple[str, str, tuple[str, str], str],
        enqueue: tuple[str, str, dict] | None,
    ) -> int:
        """In one transaction: the warning becomes referred, the referral is stored and
        (when it can go out now) an item enters a department's inbox, its referral_id set."""
        expected, to_status, actor, action = warning_change
        now = time.time()
        with self._tx() as cur:
            if not self._run(
                cur,
                "UPDATE warnings SET status=?, updated_at=? WHERE id=? AND status=?",
                (to_status, now, warning_id, expected),
            ).rowcount:
                raise WarningMoved(f"warning {warning_id} was changed by someone else meanwhile; retry")
            (referral_id,) = self._run(
                cur,
                "INSERT INTO referrals (warning_id, from_department, to_department, status, agreement,"
                " note, holder_department, holder_dataset, holder_ref, recipient_refs, disclosure,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?,?) RETURNING id",
                (
                    warning_id,
                    from_department,
                    to_department,
                    status,
                    agreement,
                    note,
                    *holder,
                    json.dumps(recipient_refs),
                    now,
                    now,
                ),
            ).fetchone()
            assignee = self._run(cur, "SELECT assignee FROM warnings WHERE id=?", (warning_id,)).fetchone()[0]
            self._event(
                cur,
                warning_id,
                now,
                actor,
                action,
                expected,
                to_status,
                assignee,
                f"referral {referral_id}" + (f": {note}" if note else ""),
            )
            if enqueue is not None:
                self._enqueue(cur, enqueue[0], enqueue[1], referral_id, {**enqueue[2], "referral_id": referral_id}, now)
            return referral_id

    def referral(self, referral_id: int) -> ReferralRow | None:
        row = self.database.fetch_one(f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id=?", (referral_id,))
        return self._referral(row) if row else None

    def referrals(
        self, *, warning_id: int | None = None, status: str | None = None, to_department: str | None = None
    ) -> list[ReferralRow]:
        sql, args = f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE 1=1", []
        for column, value in (("warning_id", warning_id), ("status", status), ("to_department", to_department)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        return [self._referral(r) for r in self.database.fetch_all(sql + " ORDER BY id", args)]

    @staticmethod
    def _referral(row) -> ReferralRow:
        values = list(row)
        values[10] = json.loads(values[10])
        values[11] = bytes(values[11]) if values[11] is not None else None
        return ReferralRow(*values)

    def update_referral(
        self,
        referral_id: int,
        expected_status: str,
        status: str,
        *,
        disclosure: bytes | None = None,
        outcome: str | None = None,
        enqueue: tuple[str, str, dict] | None = None,
    ) -> bool:
        """Moves a referral on (if still in `expected_status`) and, in the same transaction,
        puts an item in a department's inbox."""
        now = time.time()
        with self._tx() as cur:
            sets, args = "status=?, updated_at=?", [status, now]
            if disclosure is not None:
                sets += ", disclosure=?"
                args.append(disclosure)
            if outcome is not None:
                sets += ", outcome=?"
                args.append(outcome)
            changed = self._run(
                cur, f"UPDATE referrals SET {sets} WHERE id=? AND status=?", args + [referral_id, expected_status]
            ).rowcount
            if changed and enqueue is not None:
                self._enqueue(cur, enqueue[0], enqueue[1], referral_id, enqueue[2], now)
        return bool(changed)

    def enqueue(self, department: str, kind: str, referral_id: int, payload: dict) -> int:
        with self._tx() as cur:
            return self._enqueue(cur, department, kind, referral_id, payload, time.time())

    def _enqueue(self, cur, department: str, kind: str, referral_id: int, payload: dict, now: float) -> int:
        # Inbox readers page by seq: seqs must become visible in order, so (PostgreSQL)
        # writers take the inbox lock before drawing a seq and hold it until commit.
        serialize_writers(cur, self.database, "monitoring inbox")
        self._local.changed = True
        return self._run(
            cur,
            "INSERT INTO inbox (department, kind, referral_id, payload, created_at) VALUES (?,?,?,?,?) RETURNING seq",
            (department, kind, referral_id, json.dumps(payload, ensure_ascii=False, sort_keys=True), now),
        ).fetchone()[0]

    def inbox(self, department: str, after: int, limit: int) -> list[InboxRow]:
        rows = self.database.fetch_all(
            "SELECT seq, department, kind, referral_id, payload, created_at FROM inbox"
            " WHERE department=? AND seq > ? ORDER BY seq LIMIT ?",
            (department, after, limit),
        )
        return [InboxRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def acknowledge(self, department: str, upto: int) -> list[int]:
        """Marks a department's inbox read up to `upto`; returns the referral ids newly received."""
        with self._tx() as cur:
            serialize_writers(cur, self.database, f"monitoring inbox cursor {department}")
            row = self._run(cur, "SELECT acknowledged FROM inbox_cursors WHERE department=?", (department,)).fetchone()
            before = row[0] if row else 0
            if upto <= before:
                return []
            self._run(
                cur,
                "INSERT INTO inbox_cursors (department, acknowledged) VALUES (?,?)"
                " ON CONFLICT (department) DO UPDATE SET acknowledged=excluded.acknowledged",
                (department, upto),
            )
            received = [
                r[0]
                for r in self._run(
                    cur,
                    "SELECT referral_id FROM inbox WHERE department=? AND kind='referral' AND seq > ? AND seq <= ?",
                    (department, before, upto),
                ).fetchall()
            ]
            for rid in received:
                self._run(
                    cur,
                    "UPDATE referrals SET status='received', updated_at=? WHERE id=? AND status='sent'",
                    (time.time(), rid),
                )
            return received

    def acknowledged(self, department: str) -> int:
        row = self.database.fetch_one("SELECT acknowledged FROM inbox_cursors WHERE department=?", (department,))
        return row[0] if row else 0
