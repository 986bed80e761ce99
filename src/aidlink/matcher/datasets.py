"""The matcher's dataset store.

Metadata, record references and attributes live in the matcher's database
(embedded default: SQLite in <root>/matcher.sqlite; or PostgreSQL, see
matcher.state_database); encodings live in flat files of fixed-length rows under
<root>/encodings that are memory-mapped for matching, so `root` must persist
(the StatefulSet's volume). A new version becomes visible only once it is
complete: its files are moved into place before its metadata row commits.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from aidlink.gateway.key_scope import split_fingerprint
from aidlink.matcher.datasets_schema import COMPONENT, MIGRATIONS
from aidlink.matcher.similarity.blocking import BlockingKeys, token_key
from aidlink.matcher.state_database import StateTarget, open_state_database, serialize_writers

MAX_BLOCKING_KEYS = 32  # per record


class DatasetNotFound(LookupError):
    pass


@dataclass(frozen=True)
class EncodingSpec:
    bits: int
    secret_version: int
    schema_fingerprint: str

    @property
    def schema(self) -> str:
        """The linkage schema's fingerprint (the declared one less any key scope)."""
        return split_fingerprint(self.schema_fingerprint)[0]

    @property
    def scope(self) -> str:
        """The key scope's fingerprint ("" when the encodings are unscoped; gateway.key_scope)."""
        return split_fingerprint(self.schema_fingerprint)[1]

    def describe(self) -> str:
        scope = f", key scope {self.scope}" if self.scope else ", no key scope"
        return f"{self.bits}-bit, secret version {self.secret_version}, schema {self.schema[:12]}{scope}"


@dataclass(frozen=True)
class DatasetVersion:
    id: int
    department: str
    name: str
    version: int
    catalog_entry: str
    catalog_version: str
    encoding: EncodingSpec
    attributes: tuple[str, ...]
    records: int
    blocking_keys: int = 0  # keyed blocking tokens stored (0: none; exhaustive join only)

    @property
    def qualified_name(self) -> str:
        return f"{self.department}/{self.name}"


class AttributeRows(Sequence[dict[str, str]]):
    """Records' attributes, each parsed from its stored JSON when first read.

    A compare reads the attributes of the other side's matched records (and, under an
    agreement with a record filter, of all its records); parsing a million rows up front,
    most never read, would cost seconds."""

    def __init__(self, stored: list[str]) -> None:
        self._stored = stored
        self._parsed: list[dict[str, str] | None] = [None] * len(stored)

    def __len__(self) -> int:
        return len(self._stored)

    @overload
    def __getitem__(self, index: int) -> dict[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, str]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, str] | list[dict[str, str]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        parsed = self._parsed[index]
        if parsed is None:
            parsed = self._parsed[index] = json.loads(self._stored[index])
        return parsed

    def __iter__(self) -> Iterator[dict[str, str]]:
        for i in range(len(self)):
            yield self[i]

    def rows_where(self, test: Callable[[dict[str, str]], bool]) -> np.ndarray:
        """Rows whose attributes pass ``test``, asked once per distinct stored value: attribute
        sets repeat (enumerations, flags), so a million rows take a few hundred tests."""
        answers: dict[str, bool] = {}
        rows = []
        for i, stored in enumerate(self._stored):
            ok = answers.get(stored)
            if ok is None:
                ok = answers[stored] = test(json.loads(stored))
            if ok:
                rows.append(i)
        return np.asarray(rows, dtype=np.int64)


@dataclass
class LoadedDataset:
    meta: DatasetVersion
    encodings: np.ndarray  # (records, bits // 8) uint8, memory-mapped
    refs: list[str]
    attributes: Sequence[dict[str, str]]  # AttributeRows: parsed when read
    blocking: BlockingKeys | None = None  # per-record token keys, when the upload carried them


class DatasetWriter:
    """Receives one upload; `commit` makes it the dataset's newest version."""

    def __init__(
        self,
        store: DatasetStore,
        department: str,
        name: str,
        catalog_entry: str,
        catalog_version: str,
        encoding: EncodingSpec,
        attributes: Iterable[str],
    ) -> None:
        self.store, self.department, self.name = store, department, name
        self.catalog_entry, self.catalog_version = catalog_entry, catalog_version
        self.encoding, self.attributes = encoding, tuple(attributes)
        self.row_bytes = encoding.bits // 8
        tmp_dir = store.root / "encodings" / department
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._tmp_path = tmp_dir / f".{name}.{os.getpid()}.{time.monotonic_ns()}.part"
        self._file = open(self._tmp_path, "wb")
        self._key_counts = open(self._tmp_path.with_suffix(".keycounts"), "wb")
        self._keys = open(self._tmp_path.with_suffix(".keys"), "wb")
        self._rows: list[tuple[int, str, str]] = []
        self.count = 0
        self.key_count = 0

    def add(
        self, ref: str, encoding: bytes, attributes: Mapping[str, str], blocking_keys: Iterable[bytes] = ()
    ) -> None:
        if len(encoding) != self.row_bytes:
            raise ValueError(f"encoding has {len(encoding)} bytes, expected {self.row_bytes}")
        keys = [token_key(bytes(k)) for k in blocking_keys]
        if len(keys) > MAX_BLOCKING_KEYS:
            raise ValueError(f"{len(keys)} blocking keys; at most {MAX_BLOCKING_KEYS} per record")
        self._file.write(encoding)
        self._key_counts.write(bytes((len(keys),)))
        if keys:
            self._keys.write(np.asarray(keys, dtype="<u8").tobytes())
            self.key_count += len(keys)
        self._rows.append((self.count, ref, json.dumps(dict(attributes), ensure_ascii=False, sort_keys=True)))
        self.count += 1

    def commit(self) -> DatasetVersion:
        for f in (self._file, self._key_counts, self._keys):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        return self.store._commit(self)

    def abort(self) -> None:
        for f in (self._file, self._key_counts, self._keys):
            if not f.closed:
                f.close()
        for path in (self._tmp_path, self._tmp_path.with_suffix(".keycounts"), self._tmp_path.with_suffix(".keys")):
            path.unlink(missing_ok=True)


class DatasetStore:
    """Dataset versions: metadata in `database` (default: SQLite <root>/matcher.sqlite), encodings under `root`."""

    def __init__(self, root: Path | str, database: StateTarget | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.database, self._owns_database = open_state_database(
            database if database is not None else self.root / "matcher.sqlite", COMPONENT, MIGRATIONS
        )
        self._cache: dict[int, LoadedDataset] = {}
        self._committed: list[Callable[[DatasetVersion], None]] = []

    def on_commit(self, listener: Callable[[DatasetVersion], None]) -> None:
        """`listener(version)` runs after each new dataset version is committed (monitoring screens it)."""
        self._committed.append(listener)

    def writer(
        self,
        department: str,
        name: str,
        catalog_entry: str,
        catalog_version: str,
        encoding: EncodingSpec,
        attributes: Iterable[str],
    ) -> DatasetWriter:
        return DatasetWriter(self, department, name, catalog_entry, catalog_version, encoding, attributes)

    def _commit(self, w: DatasetWriter) -> DatasetVersion:
        db = self.database
        with db.transaction() as cur:
            serialize_writers(cur, db, f"dataset {w.department}/{w.name}")
            cur.execute(
                db.sql("SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE department=? AND name=?"),
                (w.department, w.name),
            )
            version = cur.fetchone()[0] + 1
            final = self._encodings_path(w.department, w.name, version)
            os.replace(w._tmp_path, final)
            for suffix in (".keycounts", ".keys"):
                part = w._tmp_path.with_suffix(suffix)
                if w.key_count:
                    os.replace(part, final.with_suffix(suffix))
                else:
                    part.unlink(missing_ok=True)
            cur.execute(
                db.sql(
                    "INSERT INTO dataset_versions (department, name, version, catalog_entry,"
                    " catalog_version, bits, secret_version, schema_fingerprint, attributes, records,"
                    " created_at, blocking_keys) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id"
                ),
                (
                    w.department,
                    w.name,
                    version,
                    w.catalog_entry,
                    w.catalog_version,
                    w.encoding.bits,
                    w.encoding.secret_version,
                    w.encoding.schema_fingerprint,
                    json.dumps(w.attributes),
                    w.count,
                    time.time(),
                    w.key_count,
                ),
            )
            vid = cur.fetchone()[0]
            self._insert_records(cur, vid, w._rows)
        meta = self.meta_by_id(vid)
        for listener in self._committed:
            listener(meta)
        return meta

    def _insert_records(self, cur, vid: int, rows: list[tuple[int, str, str]]) -> None:
        if self.database.dialect == "postgresql":  # COPY: one stream instead of a statement per record
            with cur.copy("COPY records (dataset_version, idx, ref, attributes) FROM STDIN") as copy:
                for i, ref, attrs in rows:
                    copy.write_row((vid, i, ref, attrs))
            return
        cur.executemany(
            "INSERT INTO records (dataset_version, idx, ref, attributes) VALUES (?,?,?,?)",
            [(vid, i, ref, attrs) for i, ref, attrs in rows],
        )

    def _encodings_path(self, department: str, name: str, version: int) -> Path:
        return self.root / "encodings" / department / f"{name}.v{version}.bin"

    def _meta(self, row) -> DatasetVersion:
        (vid, dept, name, version, entry, cat_version, bits, secret_version, fp, attrs, records, blocking_keys) = row
        return DatasetVersion(
            vid,
            dept,
            name,
            version,
            entry,
            cat_version,
            EncodingSpec(bits, secret_version, fp),
            tuple(json.loads(attrs)),
            records,
            blocking_keys,
        )

    _COLUMNS = (
        "id, department, name, version, catalog_entry, catalog_version, bits, secret_version,"
        " schema_fingerprint, attributes, records, blocking_keys"
    )

    def meta_by_id(self, vid: int) -> DatasetVersion:
        """The dataset version with database id `vid` (any version, not only the latest)."""
        row = self.database.fetch_one(f"SELECT {self._COLUMNS} FROM dataset_versions WHERE id=?", (vid,))
        if row is None:
            raise DatasetNotFound(f"no dataset version with id {vid}")
        return self._meta(row)

    def latest(self, department: str, name: str) -> DatasetVersion:
        row = self.database.fetch_one(
            f"SELECT {self._COLUMNS} FROM dataset_versions WHERE department=? AND name=? ORDER BY version DESC LIMIT 1",
            (department, name),
        )
        if row is None:
            raise DatasetNotFound(f"dataset {department}/{name} does not exist")
        return self._meta(row)

    def list_latest(self) -> list[DatasetVersion]:
        rows = self.database.fetch_all(
            f"SELECT {self._COLUMNS} FROM dataset_versions d WHERE version ="
            " (SELECT MAX(version) FROM dataset_versions e WHERE e.department=d.department"
            " AND e.name=d.name) ORDER BY department, name"
        )
        return [self._meta(r) for r in rows]

    def load(self, meta: DatasetVersion) -> LoadedDataset:
        cached = self._cache.get(meta.id)
        if cached is not None:
            return cached
        path = self._encodings_path(meta.department, meta.name, meta.version)
        row_bytes = meta.encoding.bits // 8
        enc: np.ndarray
        if meta.records:
            enc = np.memmap(path, dtype=np.uint8, mode="r", shape=(meta.records, row_bytes))
        else:
            enc = np.zeros((0, row_bytes), dtype=np.uint8)
        rows = self.database.fetch_all(
            "SELECT ref, attributes FROM records WHERE dataset_version=? ORDER BY idx", (meta.id,)
        )
        loaded = LoadedDataset(
            meta, enc, [r[0] for r in rows], AttributeRows([r[1] for r in rows]), self._blocking_keys(meta, path)
        )
        self._cache = {meta.id: loaded, **{k: v for k, v in list(self._cache.items())[-7:]}}
        return loaded

    @staticmethod
    def _blocking_keys(meta: DatasetVersion, path: Path) -> BlockingKeys | None:
        if not meta.blocking_keys:
            return None
        counts = np.fromfile(path.with_suffix(".keycounts"), dtype=np.uint8)
        values = np.fromfile(path.with_suffix(".keys"), dtype="<u8").astype(np.uint64, copy=False)
        return BlockingKeys.from_ragged(counts, values)

    def close(self) -> None:
        """Close the database if this store opened it (a shared `Database` is closed by its owner)."""
        if self._owns_database:
            self.database.close()
