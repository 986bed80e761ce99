"""All of the monitoring state's SQL, in one place (embedded default: SQLite in
<data dir>/monitoring.sqlite). Plain SQL only, so a PostgreSQL port is a
matter of the connection and the placeholders.

What is stored is pseudonymous: dataset version ids and record positions,
opaque cluster ids, rule outcomes, node certificates and, for a referral with
disclosure, only the ciphertext the holding node sealed to the receiving node.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS pair_runs (
    a_version INTEGER NOT NULL, b_version INTEGER NOT NULL, threshold REAL NOT NULL,
    links INTEGER NOT NULL, computed_at REAL NOT NULL, PRIMARY KEY (a_version, b_version, threshold));
CREATE TABLE IF NOT EXISTS pair_links (
    a_version INTEGER NOT NULL, b_version INTEGER NOT NULL, threshold REAL NOT NULL,
    a_idx INTEGER NOT NULL, b_idx INTEGER NOT NULL, score REAL NOT NULL);
CREATE INDEX IF NOT EXISTS pair_links_pair ON pair_links (a_version, b_version, threshold);
CREATE TABLE IF NOT EXISTS cluster_members (
    dataset_version INTEGER NOT NULL, idx INTEGER NOT NULL, cluster_id TEXT NOT NULL,
    PRIMARY KEY (dataset_version, idx));
CREATE INDEX IF NOT EXISTS cluster_members_cluster ON cluster_members (cluster_id);
CREATE TABLE IF NOT EXISTS cluster_households (
    cluster_id TEXT PRIMARY KEY, household_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_builds (
    id INTEGER PRIMARY KEY, built_at REAL NOT NULL, datasets TEXT NOT NULL, records INTEGER NOT NULL,
    clusters INTEGER NOT NULL, linked_clusters INTEGER NOT NULL, households INTEGER NOT NULL,
    rule_set TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS warnings (
    id INTEGER PRIMARY KEY, rule_id TEXT NOT NULL, rule_set TEXT NOT NULL, type TEXT NOT NULL,
    level TEXT NOT NULL, reason TEXT NOT NULL, cluster_id TEXT NOT NULL, region TEXT NOT NULL,
    subject_dataset TEXT NOT NULL, status TEXT NOT NULL, assignee TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, updated_at REAL NOT NULL, UNIQUE (rule_id, cluster_id));
CREATE TABLE IF NOT EXISTS warning_events (
    id INTEGER PRIMARY KEY, warning_id INTEGER NOT NULL, at REAL NOT NULL, department TEXT NOT NULL,
    identity TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT NOT NULL, to_status TEXT NOT NULL,
    assignee TEXT NOT NULL, note TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS warning_events_warning ON warning_events (warning_id);
CREATE TABLE IF NOT EXISTS nodes (
    department TEXT PRIMARY KEY, division_code TEXT NOT NULL, identity TEXT NOT NULL,
    certificate TEXT NOT NULL, seen_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS referrals (
    id INTEGER PRIMARY KEY, warning_id INTEGER NOT NULL, from_department TEXT NOT NULL,
    to_department TEXT NOT NULL, status TEXT NOT NULL, agreement TEXT NOT NULL, note TEXT NOT NULL,
    holder_department TEXT NOT NULL, holder_dataset TEXT NOT NULL, holder_ref TEXT NOT NULL,
    recipient_refs TEXT NOT NULL, disclosure BLOB, outcome TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, department TEXT NOT NULL, kind TEXT NOT NULL,
    referral_id INTEGER NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS inbox_department ON inbox (department, seq);
CREATE TABLE IF NOT EXISTS inbox_cursors (department TEXT PRIMARY KEY, acknowledged INTEGER NOT NULL);
"""

WARNING_COLUMNS = ("id, rule_id, rule_set, type, level, reason, cluster_id, region, subject_dataset, status,"
                   " assignee, created_at, updated_at")
REFERRAL_COLUMNS = ("id, warning_id, from_department, to_department, status, agreement, note,"
                    " holder_department, holder_dataset, holder_ref, recipient_refs, disclosure, outcome,"
                    " created_at, updated_at")


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
    recipient_refs: list          # [[dataset, ref], ...] of the recipient's own records
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
    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _tx(self):
        return _Transaction(self._conn, self._lock)

    # -- pairwise links (a cache keyed by dataset versions) ------------------------------------
    def pair_links(self, a_version: int, b_version: int, threshold: float) -> list[tuple[int, int, float]] | None:
        with self._lock:
            known = self._conn.execute("SELECT links FROM pair_runs WHERE a_version=? AND b_version=? AND"
                                       " threshold=?", (a_version, b_version, threshold)).fetchone()
            if known is None:
                return None
            return self._conn.execute("SELECT a_idx, b_idx, score FROM pair_links WHERE a_version=? AND"
                                      " b_version=? AND threshold=?", (a_version, b_version, threshold)).fetchall()

    def save_pair_links(self, a_version: int, b_version: int, threshold: float,
                        links: Sequence[tuple[int, int, float]]) -> None:
        with self._tx() as cur:
            cur.execute("DELETE FROM pair_links WHERE a_version=? AND b_version=? AND threshold=?",
                        (a_version, b_version, threshold))
            cur.executemany("INSERT INTO pair_links (a_version, b_version, threshold, a_idx, b_idx, score)"
                            " VALUES (?,?,?,?,?,?)", [(a_version, b_version, threshold, a, b, s)
                                                       for a, b, s in links])
            cur.execute("INSERT OR REPLACE INTO pair_runs VALUES (?,?,?,?,?)",
                        (a_version, b_version, threshold, len(links), time.time()))

    def forget_pairs_except(self, current_versions: Iterable[int]) -> None:
        """Drop cached links of dataset versions that are no longer the latest."""
        current = sorted(set(current_versions))
        marks = ",".join("?" * len(current)) or "NULL"
        with self._tx() as cur:
            for table in ("pair_links", "pair_runs"):
                cur.execute(f"DELETE FROM {table} WHERE a_version NOT IN ({marks}) OR b_version NOT IN ({marks})",
                            current + current)

    # -- clusters ------------------------------------------------------------------------------
    def cluster_assignments(self) -> dict[tuple[int, int], str]:
        with self._lock:
            return {(v, i): c for v, i, c in self._conn.execute(
                "SELECT dataset_version, idx, cluster_id FROM cluster_members")}

    def replace_graph(self, members: Iterable[tuple[int, int, str]], households: Iterable[tuple[str, str]],
                      summary: dict) -> int:
        with self._tx() as cur:
            cur.execute("DELETE FROM cluster_members")
            cur.execute("DELETE FROM cluster_households")
            cur.executemany("INSERT INTO cluster_members (dataset_version, idx, cluster_id) VALUES (?,?,?)", members)
            cur.executemany("INSERT INTO cluster_households (cluster_id, household_id) VALUES (?,?)", households)
            cur.execute("INSERT INTO graph_builds (built_at, datasets, records, clusters, linked_clusters,"
                        " households, rule_set) VALUES (?,?,?,?,?,?,?)",
                        (time.time(), json.dumps(summary["datasets"]), summary["records"], summary["clusters"],
                         summary["linked_clusters"], summary["households"], summary["rule_set"]))
            return cur.lastrowid

    def cluster_members(self, cluster_id: str) -> list[tuple[int, int]]:
        with self._lock:
            return self._conn.execute("SELECT dataset_version, idx FROM cluster_members WHERE cluster_id=?"
                                      " ORDER BY dataset_version, idx", (cluster_id,)).fetchall()

    def last_build(self) -> dict | None:
        with self._lock:
            row = self._conn.execute("SELECT id, built_at, datasets, records, clusters, linked_clusters,"
                                     " households, rule_set FROM graph_builds ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        keys = ("id", "built_at", "datasets", "records", "clusters", "linked_clusters", "households", "rule_set")
        out = dict(zip(keys, row))
        out["datasets"] = json.loads(out["datasets"])
        return out

    # -- warnings ------------------------------------------------------------------------------
    def warnings_by_key(self) -> dict[tuple[str, str], WarningRow]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {WARNING_COLUMNS} FROM warnings").fetchall()
        return {(r[1], r[6]): WarningRow(*r) for r in rows}

    def add_warnings(self, new: Sequence[NewWarning], actor: tuple[str, str]) -> list[int]:
        now, ids = time.time(), []
        with self._tx() as cur:
            for w in new:
                cur.execute("INSERT INTO warnings (rule_id, rule_set, type, level, reason, cluster_id, region,"
                            " subject_dataset, status, assignee, created_at, updated_at)"
                            " VALUES (?,?,?,?,?,?,?,?,'new','',?,?)",
                            (w.rule_id, w.rule_set, w.type, w.level, w.reason, w.cluster_id, w.region,
                             w.subject_dataset, now, now))
                ids.append(cur.lastrowid)
                self._event(cur, cur.lastrowid, now, actor, "raised", "", "new", "", f"rule set {w.rule_set}")
        return ids

    def refresh_warning(self, warning_id: int, region: str, subject_dataset: str) -> None:
        with self._tx() as cur:
            cur.execute("UPDATE warnings SET region=?, subject_dataset=? WHERE id=?",
                        (region, subject_dataset, warning_id))

    def warning(self, warning_id: int) -> WarningRow | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {WARNING_COLUMNS} FROM warnings WHERE id=?", (warning_id,)).fetchone()
        return WarningRow(*row) if row else None

    def find_warnings(self, *, levels: Sequence[str] = (), types: Sequence[str] = (),
                      statuses: Sequence[str] = (), region_prefix: str = "", cluster_ids: Sequence[str] = (),
                      after_id: int = 0, limit: int = 1000) -> list[WarningRow]:
        sql, args = f"SELECT {WARNING_COLUMNS} FROM warnings WHERE id > ?", [after_id]
        for column, values in (("level", levels), ("type", types), ("status", statuses),
                               ("cluster_id", cluster_ids)):
            if values:
                sql += f" AND {column} IN ({','.join('?' * len(values))})"
                args.extend(values)
        if region_prefix:
            sql += " AND substr(region, 1, ?) = ?"
            args.extend([len(region_prefix), region_prefix])
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            return [WarningRow(*r) for r in self._conn.execute(sql, args).fetchall()]

    def change_warning(self, warning_id: int, expected_status: str, to_status: str, assignee: str,
                       actor: tuple[str, str], action: str, note: str) -> bool:
        """Moves a warning on if it is still in `expected_status` (False if it moved meanwhile)."""
        now = time.time()
        with self._tx() as cur:
            changed = cur.execute("UPDATE warnings SET status=?, assignee=?, updated_at=? WHERE id=? AND status=?",
                                  (to_status, assignee, now, warning_id, expected_status)).rowcount
            if changed:
                self._event(cur, warning_id, now, actor, action, expected_status, to_status, assignee, note)
        return bool(changed)

    def warning_events(self, warning_id: int) -> list[WarningEvent]:
        with self._lock:
            rows = self._conn.execute("SELECT warning_id, at, department, identity, action, from_status,"
                                      " to_status, assignee, note FROM warning_events WHERE warning_id=?"
                                      " ORDER BY id", (warning_id,)).fetchall()
        return [WarningEvent(*r) for r in rows]

    @staticmethod
    def _event(cur, warning_id: int, at: float, actor: tuple[str, str], action: str, from_status: str,
               to_status: str, assignee: str, note: str) -> None:
        cur.execute("INSERT INTO warning_events (warning_id, at, department, identity, action, from_status,"
                    " to_status, assignee, note) VALUES (?,?,?,?,?,?,?,?,?)",
                    (warning_id, at, actor[0], actor[1], action, from_status, to_status, assignee, note))

    # -- nodes ---------------------------------------------------------------------------------
    def remember_node(self, department: str, division_code: str, identity: str, certificate: str) -> bool:
        """Records a node's certificate; True when it is new or changed."""
        with self._lock:
            old = self._conn.execute("SELECT certificate, division_code FROM nodes WHERE department=?",
                                     (department,)).fetchone()
        if old == (certificate, division_code):
            return False
        with self._tx() as cur:
            cur.execute("INSERT OR REPLACE INTO nodes VALUES (?,?,?,?,?)",
                        (department, division_code, identity, certificate, time.time()))
        return True

    def node(self, department: str) -> NodeRow | None:
        with self._lock:
            row = self._conn.execute("SELECT department, division_code, identity, certificate FROM nodes"
                                     " WHERE department=?", (department,)).fetchone()
        return NodeRow(*row) if row else None

    # -- referrals and inboxes -----------------------------------------------------------------
    def add_referral(self, warning_id: int, from_department: str, to_department: str, status: str,
                     agreement: str, note: str, holder: tuple[str, str, str], recipient_refs: list, *,
                     warning_change: tuple[str, str, tuple[str, str], str],
                     enqueue: tuple[str, str, dict] | None) -> int:
        """In one transaction: the warning becomes referred, the referral is stored and
        (when it can go out now) an item enters a department's inbox, its referral_id set."""
        expected, to_status, actor, action = warning_change
        now = time.time()
        with self._tx() as cur:
            if not cur.execute("UPDATE warnings SET status=?, updated_at=? WHERE id=? AND status=?",
                               (to_status, now, warning_id, expected)).rowcount:
                raise WarningMoved(f"warning {warning_id} was changed by someone else meanwhile; retry")
            cur.execute("INSERT INTO referrals (warning_id, from_department, to_department, status, agreement,"
                        " note, holder_department, holder_dataset, holder_ref, recipient_refs, disclosure,"
                        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?,?)",
                        (warning_id, from_department, to_department, status, agreement, note, *holder,
                         json.dumps(recipient_refs), now, now))
            referral_id = cur.lastrowid
            assignee = cur.execute("SELECT assignee FROM warnings WHERE id=?", (warning_id,)).fetchone()[0]
            self._event(cur, warning_id, now, actor, action, expected, to_status, assignee,
                        f"referral {referral_id}" + (f": {note}" if note else ""))
            if enqueue is not None:
                self._enqueue(cur, enqueue[0], enqueue[1], referral_id,
                              {**enqueue[2], "referral_id": referral_id}, now)
            return referral_id

    def referral(self, referral_id: int) -> ReferralRow | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id=?",
                                     (referral_id,)).fetchone()
        return self._referral(row) if row else None

    def referrals(self, *, warning_id: int | None = None, status: str | None = None,
                  to_department: str | None = None) -> list[ReferralRow]:
        sql, args = f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE 1=1", []
        for column, value in (("warning_id", warning_id), ("status", status), ("to_department", to_department)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        with self._lock:
            return [self._referral(r) for r in self._conn.execute(sql + " ORDER BY id", args).fetchall()]

    @staticmethod
    def _referral(row) -> ReferralRow:
        values = list(row)
        values[10] = json.loads(values[10])
        values[11] = bytes(values[11]) if values[11] is not None else None
        return ReferralRow(*values)

    def update_referral(self, referral_id: int, expected_status: str, status: str, *,
                        disclosure: bytes | None = None, outcome: str | None = None,
                        enqueue: tuple[str, str, dict] | None = None) -> bool:
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
            changed = cur.execute(f"UPDATE referrals SET {sets} WHERE id=? AND status=?",
                                  args + [referral_id, expected_status]).rowcount
            if changed and enqueue is not None:
                self._enqueue(cur, enqueue[0], enqueue[1], referral_id, enqueue[2], now)
        return bool(changed)

    def enqueue(self, department: str, kind: str, referral_id: int, payload: dict) -> int:
        with self._tx() as cur:
            return self._enqueue(cur, department, kind, referral_id, payload, time.time())

    @staticmethod
    def _enqueue(cur, department: str, kind: str, referral_id: int, payload: dict, now: float) -> int:
        cur.execute("INSERT INTO inbox (department, kind, referral_id, payload, created_at) VALUES (?,?,?,?,?)",
                    (department, kind, referral_id, json.dumps(payload, ensure_ascii=False, sort_keys=True), now))
        return cur.lastrowid

    def inbox(self, department: str, after: int, limit: int) -> list[InboxRow]:
        with self._lock:
            rows = self._conn.execute("SELECT seq, department, kind, referral_id, payload, created_at FROM inbox"
                                      " WHERE department=? AND seq > ? ORDER BY seq LIMIT ?",
                                      (department, after, limit)).fetchall()
        return [InboxRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def acknowledge(self, department: str, upto: int) -> list[int]:
        """Marks a department's inbox read up to `upto`; returns the referral ids newly received."""
        with self._tx() as cur:
            row = cur.execute("SELECT acknowledged FROM inbox_cursors WHERE department=?", (department,)).fetchone()
            before = row[0] if row else 0
            if upto <= before:
                return []
            cur.execute("INSERT OR REPLACE INTO inbox_cursors VALUES (?,?)", (department, upto))
            received = [r[0] for r in cur.execute(
                "SELECT referral_id FROM inbox WHERE department=? AND kind='referral' AND seq > ? AND seq <= ?",
                (department, before, upto))]
            for rid in received:
                cur.execute("UPDATE referrals SET status='received', updated_at=? WHERE id=? AND status='sent'",
                            (time.time(), rid))
            return received

    def acknowledged(self, department: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT acknowledged FROM inbox_cursors WHERE department=?",
                                     (department,)).fetchone()
        return row[0] if row else 0


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self.conn, self.lock = conn, lock

    def __enter__(self) -> sqlite3.Cursor:
        self.lock.acquire()
        self.cur = self.conn.cursor()
        self.cur.execute("BEGIN IMMEDIATE")
        return self.cur

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.cur.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.lock.release()
