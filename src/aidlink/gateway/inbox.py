"""The node's referral inbox (Art. 17): pulls items from the matcher after a
stored cursor (so a restart of either side loses nothing), resolves them to the
department's own record ids, opens identities disclosed to it, and answers
disclosure requests by sealing the person's fields to the receiving node.

Everything here stays on the department's node, and disclosed identities stay sealed at
rest: ``inbox.sqlite`` keeps each referral as it arrived (the identity HPKE-sealed to this
node's certificate, :mod:`aidlink.gateway.referrals`) and opens it with the node's key only
when the inbox is read; the identity column holds nothing. The file is 0600 in a 0700
directory (:mod:`aidlink.gateway.state_files`) and deleted rows are overwritten
(``secure_delete``), so neither the file nor its WAL holds a disclosed identity in the clear.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aidlink.gateway.referrals import DisclosureError, open_identity, seal_identity
from aidlink.gateway.refs import ReferenceMap, UnknownReference
from aidlink.gateway.state_files import private_sqlite
from aidlink.v1 import monitoring_pb2 as pb
from aidlink.v1 import monitoring_pb2_grpc

FETCH_BATCH = 100
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, referral_id INTEGER NOT NULL, item BLOB NOT NULL,
    record_ids TEXT NOT NULL, identity TEXT NOT NULL, state TEXT NOT NULL, note TEXT NOT NULL,
    received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cursor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
"""
RecordLookup = Callable[[str], Mapping[str, str] | None]


@dataclass(frozen=True)
class NodeKeys:
    """The node's own TLS files: its key opens identities sealed to it; the CA checks recipients."""

    ca_cert: bytes
    cert: bytes
    key: bytes


@dataclass
class InboxEntry:
    seq: int
    kind: str
    referral_id: int
    item: pb.ReferralInboxItem
    record_ids: list[str]
    identity: dict[str, str] = field(default_factory=dict)
    state: str = "received"
    note: str = ""


class ReferralInbox:
    def __init__(
        self,
        path: Path | str,
        matcher: monitoring_pb2_grpc.MonitoringStub,
        refs: ReferenceMap,
        department: str,
        keys: NodeKeys | None,
    ) -> None:
        self._conn = sqlite3.connect(private_sqlite(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        # Inboxes written before identities were kept sealed held them opened: forget those
        # copies (each referral's sealed form is in its item and is opened on read).
        if self._conn.execute("UPDATE entries SET identity='{}' WHERE identity != '{}'").rowcount:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no old page left in the WAL either
        self._lock = threading.RLock()
        self.matcher, self.refs, self.department, self.keys = matcher, refs, department, keys

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self):
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @property
    def cursor(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT seq FROM cursor WHERE id=1").fetchone()
        return row[0] if row else 0

    # -- pulling -------------------------------------------------------------------------------
    def sync(self, record_lookup: RecordLookup | None = None) -> int:
        """Fetches every new item; returns how many. With `record_lookup` (record id -> the
        person's fields, from the department's own system) disclosure requests are answered
        at once; without it they wait for `answer_disclosure`."""
        fetched = 0
        with self._lock:
            while True:
                batch = self.matcher.FetchInbox(pb.ReferralInboxRequest(after=self.cursor, limit=FETCH_BATCH))
                if not batch.items:  # this last call also acknowledged everything stored
                    if record_lookup is not None:  # answer requests left pending by an earlier stop
                        for entry in self.entries():
                            if entry.state == "disclosure-pending":
                                self._answer(entry, record_lookup)
                    return fetched
                for item in batch.items:
                    entry = self._receive(item)
                    with self._transaction():
                        self._store(entry)
                        self._conn.execute("INSERT OR REPLACE INTO cursor VALUES (1, ?)", (item.seq,))
                    fetched += 1

    def take(self, item: pb.ReferralInboxItem) -> InboxEntry | None:
        """Stores one item pushed by the matcher (``Monitoring.Subscribe``) and moves the cursor;
        None for an item already stored. A disclosure request waits for `answer_disclosure`."""
        with self._lock:
            if item.seq <= self.cursor:
                return None
            entry = self._receive(item)
            with self._transaction():
                self._store(entry)
                self._conn.execute("INSERT OR REPLACE INTO cursor VALUES (1, ?)", (item.seq,))
            return entry

    def _resolve(self, records) -> tuple[list[str], str]:
        ids, unknown = [], []
        for r in records:
            try:
                ids.append(self.refs.resolve(r.ref))
            except UnknownReference:
                unknown.append(r.ref)
        return ids, (f"references not issued by this node: {', '.join(unknown)}" if unknown else "")

    def _receive(self, item: pb.ReferralInboxItem) -> InboxEntry:
        record_ids, note = self._resolve(item.records)
        entry = InboxEntry(item.seq, item.kind, item.referral_id, item, record_ids, note=note)
        if item.kind == "disclosure-request":
            entry.state = "disclosure-pending"
        elif item.kind == "referral" and item.sealed_identity:
            self._open(entry)  # checked on receipt, so a referral this node cannot read says so at once
        return entry

    def _open(self, entry: InboxEntry) -> InboxEntry:
        """``entry`` with the identity sealed in its item opened with this node's key (in memory only)."""
        if entry.kind != "referral" or not entry.item.sealed_identity:
            return entry
        if self.keys is None:
            entry.state, entry.note = "unreadable", "this node has no key to open disclosed identities"
            return entry
        try:
            entry.identity = open_identity(entry.item.sealed_identity, entry.referral_id, self.keys.key, self.keys.cert)
        except DisclosureError as exc:
            entry.state, entry.note = "unreadable", str(exc)
        return entry

    def _store(self, e: InboxEntry) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?,?)",
            (
                e.seq,
                e.kind,
                e.referral_id,
                e.item.SerializeToString(),
                json.dumps(e.record_ids),
                "{}",  # never the opened identity: it stays sealed in the item
                e.state,
                e.note,
                time.time(),
            ),
        )

    # -- disclosure ----------------------------------------------------------------------------
    def _answer(self, entry: InboxEntry, lookup: RecordLookup) -> None:
        fields = lookup(entry.record_ids[0]) if entry.record_ids else None
        if fields is None:
            self.answer_disclosure(entry.referral_id, None, "the record is no longer held by this department")
        else:
            self.answer_disclosure(entry.referral_id, fields)

    def answer_disclosure(
        self, referral_id: int, fields: Mapping[str, str] | None, declined_reason: str = ""
    ) -> pb.ReferralInfo:
        """Seals `fields` to the recipient named in the pending request and sends the ciphertext,
        or declines with a reason."""
        with self._lock:
            entry = next(
                (e for e in self.entries() if e.kind == "disclosure-request" and e.referral_id == referral_id), None
            )
            if entry is None:
                raise LookupError(f"no disclosure request for referral {referral_id} in this node's inbox")
            if entry.state != "disclosure-pending":
                raise ValueError(f"the disclosure request for referral {referral_id} is already {entry.state}")
            if fields is None or declined_reason:
                info = self.matcher.SubmitDisclosure(
                    pb.DisclosureSubmission(referral_id=referral_id, declined_reason=declined_reason or "declined")
                )
                entry.state, entry.note = "disclosure-declined", declined_reason
            else:
                if self.keys is None:
                    raise DisclosureError("this node has no CA certificate to check the recipient with")
                sealed = seal_identity(
                    fields, referral_id, entry.item.recipient, entry.item.recipient_certificate, self.keys.ca_cert
                )
                info = self.matcher.SubmitDisclosure(
                    pb.DisclosureSubmission(referral_id=referral_id, sealed_identity=sealed)
                )
                entry.state = "disclosure-sent"
            with self._transaction():
                self._store(entry)
            return info

    # -- reading -------------------------------------------------------------------------------
    def entries(self, after: int = 0) -> list[InboxEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, kind, referral_id, item, record_ids, identity, state, note"
                " FROM entries WHERE seq > ? ORDER BY seq",
                (after,),
            ).fetchall()
        return [
            self._open(
                InboxEntry(seq, kind, rid, pb.ReferralInboxItem.FromString(item), json.loads(ids), {}, state, note)
            )
            for seq, kind, rid, item, ids, _identity, state, note in rows
        ]
