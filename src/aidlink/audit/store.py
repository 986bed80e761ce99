"""Durable, append-only storage of audit entries and signed checkpoints.

`SQLAuditStore` holds the portable SQL (plain DB-API, one placeholder style);
each database supplies its connection, schema and append-only enforcement in a
subclass beside it: SQLite in audit.sqlite_store (the embedded default),
PostgreSQL later. Every entry row keeps its canonical body (what is verified)
and its Merkle leaf hash (so the tree is rebuilt at start-up without re-hashing);
the filter columns copy fields of the body for indexed queries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from aidlink.audit.entry import AuditEntry
from aidlink.audit.merkle import hash_leaf
from aidlink.audit.query import EntryFilter, datasets_column

ENTRY_COLUMNS = (
    "seq",
    "time",
    "department",
    "identity",
    "method",
    "purpose",
    "agreement",
    "outcome",
    "datasets",
    "body",
    "leaf_hash",
)
CHECKPOINT_COLUMNS = ("number", "time", "size", "root", "note")


EVERY_ENTRY = EntryFilter()  # the filter that matches every entry (immutable, so a safe default)


class AuditStoreError(RuntimeError):
    """The audit store cannot be opened or does not hold what was expected."""


# The recorded fields an officer may sort the log by -> their column (each indexed with time).
SORT_FIELDS = {
    "time": "time",
    "department": "department",
    "identity": "identity",
    "method": "method",
    "purpose": "purpose",
    "agreement": "agreement",
    "dataset": "datasets",
    "outcome": "outcome",
}


@dataclass(frozen=True)
class StoredEntry:
    """One stored entry: its position, canonical body and leaf hash as written."""

    seq: int
    body: bytes
    leaf_hash: bytes
    columns: tuple[object, ...] | None = field(default=None, compare=False, repr=False)
    """The stored filter columns (ENTRY_COLUMNS[1:-2]) when read by `scan`, to check against the body."""

    @classmethod
    def of(cls, seq: int, entry: AuditEntry) -> StoredEntry:
        """The stored form of `entry` at position `seq`, which the body records."""
        positioned = replace(entry, seq=seq)
        body = positioned.canonical_bytes()
        row = cls(seq, body, hash_leaf(body))
        row.__dict__["entry"] = positioned  # fills the cached_property: no need to decode the body
        return row

    def expected_columns(self) -> tuple[object, ...]:
        """The filter columns the body implies."""
        return _entry_row(self)[1:-2]

    @cached_property
    def entry(self) -> AuditEntry:
        """The decoded entry; raises ValueError if the body is not a valid entry."""
        try:
            return AuditEntry.from_canonical_bytes(self.body)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"entry {self.seq}: body is not a valid audit entry: {exc}") from None


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: numbered from 1 in the order issued."""

    number: int
    time: str
    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True)
class StoredCosignature:
    """A witness's cosignature line on the checkpoint numbered `checkpoint`, as stored."""

    checkpoint: int
    witness: str
    time: str
    line: str


def _blob(value: object) -> bytes:
    # A column edited by hand may come back as text; verification then reports it.
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)  # type: ignore[call-overload]


def _filter_text(value: str) -> str:
    """A copy of an entry's field kept for filtering: NUL (which PostgreSQL text cannot hold, and
    which a caller may send in any string) as U+FFFD. The entry itself, NUL included, is the body."""
    return value.replace("\x00", "\ufffd")


def _entry_row(row: StoredEntry) -> tuple[object, ...]:
    e = row.entry
    return (
        row.seq,
        e.time,
        _filter_text(e.department),
        _filter_text(e.identity),
        _filter_text(e.method),
        _filter_text(e.purpose),
        _filter_text(e.agreement),
        e.outcome,
        _filter_text(datasets_column(e.datasets)),
        row.body,
        row.leaf_hash,
    )


class SQLAuditStore:
    """Audit storage over a DB-API connection; subclasses provide `_writing` and `_reading`."""

    placeholder = "?"

    @property
    def location(self) -> str:
        """Where the log is kept, for messages (a file path or a database URL)."""
        raise NotImplementedError

    # -- provided by each database -----------------------------------------------------
    def _writing(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor inside one write transaction, committed durably on clean exit."""
        raise NotImplementedError

    def _reading(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor that sees every committed write."""
        raise NotImplementedError

    def _write_statement(self, statement: str, params: Sequence[object]) -> None:
        """Run one statement as its own transaction, durable on return."""
        with self._writing() as cur:
            cur.execute(statement, params)

    def close(self) -> None:
        raise NotImplementedError

    # -- portable SQL --------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def append_batch(self, rows: Sequence[StoredEntry]) -> None:
        """Write rows in one transaction; durable on return, nothing written on error.

        One multi-row INSERT, so the database is entered once per batch (each
        entry into the SQLite module gives up Python's GIL and must win it back).
        """
        if not rows:
            return
        one = f"({', '.join('?' * len(ENTRY_COLUMNS))})"
        statement = self._sql(
            f"INSERT INTO audit_entries ({', '.join(ENTRY_COLUMNS)}) VALUES {', '.join([one] * len(rows))}"
        )
        self._write_statement(statement, [value for r in rows for value in _entry_row(r)])

    def append_checkpoint(self, time: str, size: int, root: bytes, note: bytes) -> StoredCheckpoint:
        """Store a signed checkpoint as the next in order; durable on return."""
        with self._writing() as cur:
            cur.execute("SELECT COALESCE(MAX(number), 0) FROM audit_checkpoints")
            number = cur.fetchone()[0] + 1
            cur.execute(
                self._sql("INSERT INTO audit_checkpoints (number, time, size, root, note) VALUES (?, ?, ?, ?, ?)"),
                (number, time, size, root, note),
            )
        return StoredCheckpoint(number, time, size, bytes(root), bytes(note))

    def append_cosignature(self, checkpoint: int, witness: str, time: str, line: str) -> None:
        """Store a witness's cosignature line (without its newline) for a stored checkpoint; durable on return.
        A second cosignature by the same witness on the same checkpoint is ignored."""
        with self._writing() as cur:
            cur.execute(
                self._sql("SELECT 1 FROM audit_cosignatures WHERE checkpoint = ? AND witness = ?"),
                (checkpoint, witness),
            )
            if cur.fetchone() is None:
                cur.execute(
                    self._sql("INSERT INTO audit_cosignatures (checkpoint, witness, time, line) VALUES (?, ?, ?, ?)"),
                    (checkpoint, witness, time, line),
                )

    def cosignatures(self) -> list[StoredCosignature]:
        """Every stored cosignature, by checkpoint number."""
        with self._reading() as cur:
            cur.execute("SELECT checkpoint, witness, time, line FROM audit_cosignatures ORDER BY checkpoint, witness")
            return [StoredCosignature(int(n), w, t, line) for n, w, t, line in cur.fetchall()]

    def count(self) -> int:
        """Number of stored entries."""
        with self._reading() as cur:
            cur.execute("SELECT COUNT(*) FROM audit_entries")
            return cur.fetchone()[0]

    def leaf_hashes(self, start: int = 0) -> list[tuple[int, bytes]]:
        """(seq, leaf hash) of every entry from seq `start` on, in order."""
        with self._reading() as cur:
            cur.execute(self._sql("SELECT seq, leaf_hash FROM audit_entries WHERE seq >= ? ORDER BY seq"), (start,))
            return [(seq, _blob(h)) for seq, h in cur.fetchall()]

    def scan(self, start: int = 0, batch: int = 5000) -> Iterator[StoredEntry]:
        """Every entry from seq `start` on, in order, with its filter columns, read in batches."""
        statement = self._sql(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM audit_entries WHERE seq >= ? ORDER BY seq LIMIT ?"
        )
        while True:
            with self._reading() as cur:
                cur.execute(statement, (start, batch))
                rows = cur.fetchall()
            for row in rows:
                yield StoredEntry(row[0], _blob(row[-2]), _blob(row[-1]), tuple(row[1:-2]))
            if len(rows) < batch:
                return
            start = rows[-1][0] + 1

    def query(
        self, where: EntryFilter = EVERY_ENTRY, limit: int | None = None, newest_first: bool = False
    ) -> list[StoredEntry]:
        """Entries matching `where`, oldest first (or newest first), at most `limit`."""
        condition, params = where.where(self.placeholder)
        statement = (
            f"SELECT seq, body, leaf_hash FROM audit_entries WHERE {condition} "
            f"ORDER BY seq {'DESC' if newest_first else 'ASC'}"
        )
        if limit is not None:
            statement += f" LIMIT {int(limit)}"
        with self._reading() as cur:
            cur.execute(statement, params)
            return [StoredEntry(seq, _blob(body), _blob(leaf)) for seq, body, leaf in cur.fetchall()]

    def page(
        self,
        where: EntryFilter = EVERY_ENTRY,
        limit: int = 50,
        newest_first: bool = True,
        after: tuple[str | int, ...] | None = None,
        order_by: str = "time",
    ) -> list[StoredEntry]:
        """One page of entries matching `where`, ordered by `order_by` (a recorded field, see
        SORT_FIELDS), then time, then seq, descending or ascending, after the keyset `after` (the
        previous page's last entry's values of those columns: (time, seq) when ordered by time,
        (field, time, seq) otherwise).

        Each order is served by an index (audit schema migration 3), so a page reads about `limit`
        rows however large the log (keyset paging: no OFFSET).
        """
        if order_by not in SORT_FIELDS:
            raise ValueError(f"order_by {order_by!r}: expected one of {', '.join(SORT_FIELDS)}")
        columns = ("time", "seq") if order_by == "time" else (SORT_FIELDS[order_by], "time", "seq")
        condition, params = where.where(self.placeholder)
        direction = "DESC" if newest_first else "ASC"
        if after is not None:
            if len(after) != len(columns):
                raise ValueError(f"after: expected values for {', '.join(columns)}")
            sign = "<" if newest_first else ">"
            marks = ", ".join("?" for _ in columns)
            condition += self._sql(f" AND ({', '.join(columns)}) {sign} ({marks})")
            params = [*params, *after]
        order = ", ".join(f"{c} {direction}" for c in columns)
        statement = (
            f"SELECT seq, body, leaf_hash FROM audit_entries WHERE {condition} ORDER BY {order} LIMIT {int(limit)}"
        )
        with self._reading() as cur:
            cur.execute(statement, params)
            return [StoredEntry(seq, _blob(body), _blob(leaf)) for seq, body, leaf in cur.fetchall()]

    def sort_keyset(self, seq: int, order_by: str = "time") -> tuple[str | int, ...] | None:
        """The stored values of entry `seq` that `page(order_by=...)` pages after, or None."""
        if order_by not in SORT_FIELDS:
            raise ValueError(f"order_by {order_by!r}: expected one of {', '.join(SORT_FIELDS)}")
        columns = ("time", "seq") if order_by == "time" else (SORT_FIELDS[order_by], "time", "seq")
        with self._reading() as cur:
            cur.execute(self._sql(f"SELECT {', '.join(columns)} FROM audit_entries WHERE seq = ?"), (seq,))
            row = cur.fetchone()
        return tuple(row) if row is not None else None

    def hourly_counts(self, since: str, until: str) -> list[tuple[str, str, str, str, int]]:
        """(department, purpose, outcome, UTC hour 'YYYY-MM-DDTHH', count) for entries in [since, until)."""
        statement = self._sql(
            "SELECT department, purpose, outcome, SUBSTR(time, 1, 13) AS hour, COUNT(*) "
            "FROM audit_entries WHERE time >= ? AND time < ? "
            "GROUP BY department, purpose, outcome, SUBSTR(time, 1, 13)"
        )
        with self._reading() as cur:
            cur.execute(statement, (since, until))
            return [(d, p, o, h, int(n)) for d, p, o, h, n in cur.fetchall()]

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, in the order issued."""
        with self._reading() as cur:
            cur.execute(f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM audit_checkpoints ORDER BY number")
            return [StoredCheckpoint(n, t, s, _blob(r), _blob(note)) for n, t, s, r, note in cur.fetchall()]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The most recently issued checkpoint, or None."""
        with self._reading() as cur:
            cur.execute(f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM audit_checkpoints ORDER BY number DESC LIMIT 1")
            row = cur.fetchone()
        if row is None:
            return None
        n, t, s, r, note = row
        return StoredCheckpoint(n, t, s, _blob(r), _blob(note))

    def latest_cosigned_checkpoint(self, witnesses: Sequence[str]) -> StoredCheckpoint | None:
        """The newest checkpoint every one of `witnesses` (names) has a stored cosignature on."""
        if not witnesses:
            return self.latest_checkpoint()
        names = sorted(set(witnesses))
        marks = ", ".join("?" for _ in names)
        statement = self._sql(
            f"SELECT {', '.join('c.' + c for c in CHECKPOINT_COLUMNS)} FROM audit_checkpoints c "
            f"WHERE (SELECT COUNT(DISTINCT w.witness) FROM audit_cosignatures w "
            f"WHERE w.checkpoint = c.number AND w.witness IN ({marks})) = ? "
            "ORDER BY c.number DESC LIMIT 1"
        )
        with self._reading() as cur:
            cur.execute(statement, (*names, len(names)))
            row = cur.fetchone()
        if row is None:
            return None
        n, t, s, r, note = row
        return StoredCheckpoint(n, t, s, _blob(r), _blob(note))

    def cosignatures_of(self, checkpoint: int) -> list[StoredCosignature]:
        """The stored cosignatures of one checkpoint."""
        with self._reading() as cur:
            cur.execute(
                self._sql(
                    "SELECT checkpoint, witness, time, line FROM audit_cosignatures WHERE checkpoint = ? ORDER BY witness"
                ),
                (checkpoint,),
            )
            return [StoredCosignature(int(n), w, t, line) for n, w, t, line in cur.fetchall()]

    def checkpoint_of_size(self, size: int) -> StoredCheckpoint | None:
        """The latest checkpoint issued for exactly `size` entries, or None."""
        with self._reading() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM audit_checkpoints "
                    "WHERE size = ? ORDER BY number DESC LIMIT 1"
                ),
                (size,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        n, t, s, r, note = row
        return StoredCheckpoint(n, t, s, _blob(r), _blob(note))


def __getattr__(name: str) -> Any:
    # The matcher imports SQLiteAuditStore from here; loaded lazily to avoid an import cycle.
    if name == "SQLiteAuditStore":
        from aidlink.audit.sqlite_store import SQLiteAuditStore

        return SQLiteAuditStore
    raise AttributeError(f"module 'aidlink.audit.store' has no attribute {name!r}")
