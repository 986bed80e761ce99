"""Published catalog versions, kept immutable in the matcher's database (Art. 7).

Publishing stores a whole catalog version; once published it is never changed:
publishing the same version again with different content is refused (the
database refuses updates and deletes too), and a change is a new version, with
a readable diff against any earlier one. The store answers the matcher's upload
path (`entry`) and compare path (`check_matchable`) for every published version.
Changes are made jointly with civil affairs: a publication names who approved it
and must include "mca".
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable

from aidlink.matcher.catalog import Catalog, CatalogDiff, CatalogEntry, CatalogError, NotShared, diff, refuse_not_shared
from aidlink.matcher.catalog_schema import COMPONENT, MIGRATIONS
from aidlink.matcher.state_database import StateTarget, open_state_database, serialize_writers

LEAD_DEPARTMENT = "mca"


class CatalogImmutable(CatalogError):
    """An attempt to change a published catalog version."""


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    seq: int                      # publication order, 1 = first
    published_at: float
    approved_by: tuple[str, ...]
    note: str
    entries: int


class CatalogStore:
    """Every published catalog version; the matcher's `Exchange.catalog`."""

    def __init__(self, database: StateTarget) -> None:
        """`database`: a shared `Database`, a database URL, or an SQLite file path."""
        self.database, self._owns_database = open_state_database(database, COMPONENT, MIGRATIONS)
        self._cache: dict[str, Catalog] = {}   # safe: a published version never changes

    @classmethod
    def open(cls, database: StateTarget, seed: Catalog | None = None) -> "CatalogStore":
        """Open the store; publish `seed` (e.g. the embedded default) if that version is new."""
        store = cls(database)
        if seed is not None and seed.version not in store.versions():
            store.publish(seed, approved_by=(LEAD_DEPARTMENT,), note="published at matcher start (configured catalog)")
        return store

    # -- publishing ---------------------------------------------------------------------------
    def publish(self, catalog: Catalog, approved_by: Iterable[str], note: str = "") -> PublishedVersion:
        """Publish `catalog` as a new immutable version. Publishing an identical copy of a
        published version is a no-op; a different document under a published version is refused."""
        approved = tuple(sorted(set(approved_by)))
        if LEAD_DEPARTMENT not in approved:
            raise CatalogError(f"catalog version {catalog.version}: a catalog change is made jointly with "
                               f"civil affairs (Art. 7); approved_by must include {LEAD_DEPARTMENT!r} "
                               f"(given: {', '.join(approved) or 'nobody'})")
        document = json.dumps(catalog.to_dict(), ensure_ascii=False, sort_keys=True)
        db = self.database
        with db.transaction() as cur:
            serialize_writers(cur, db, "catalog publish")   # one publisher at a time: seq and version checks
            cur.execute(db.sql("SELECT document FROM catalog_versions WHERE version=?"), (catalog.version,))
            row = cur.fetchone()
            if row is not None:
                if row[0] != document:
                    published = Catalog.from_dict(json.loads(row[0]), f"catalog {catalog.version}")
                    changes = diff(published, catalog).text().split("\n", 1)[-1]
                    raise CatalogImmutable(
                        f"catalog version {catalog.version} is published and cannot be changed; publish the "
                        f"change as a new version. Attempted change:\n{changes}")
            else:
                cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM catalog_versions")
                (seq,) = cur.fetchone()
                cur.execute(db.sql("INSERT INTO catalog_versions (version, seq, published_at, approved_by, note,"
                                   " document) VALUES (?,?,?,?,?,?)"),
                            (catalog.version, seq, time.time(), json.dumps(approved), note, document))
        return self.published(catalog.version)

    # -- reading ------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Published versions, oldest first."""
        with self.database.reading() as cur:
            cur.execute("SELECT version FROM catalog_versions ORDER BY seq")
            return [r[0] for r in cur.fetchall()]

    def published(self, version: str) -> PublishedVersion:
        row = self.database.fetch_one("SELECT version, seq, published_at, approved_by, note, document FROM catalog_versions"
                        " WHERE version=?", (version,))
        if row is None:
            raise CatalogError(self._not_published(version))
        return PublishedVersion(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4],
                                len(json.loads(row[5]).get("entry", [])))

    def history(self) -> list[PublishedVersion]:
        return [self.published(v) for v in self.versions()]

    def get(self, version: str | None = None) -> Catalog:
        """A published version (default: the latest)."""
        if version is None or version == "":
            version = self.latest_version()
        cached = self._cache.get(version)
        if cached is not None:
            return cached
        row = self.database.fetch_one("SELECT document FROM catalog_versions WHERE version=?", (version,))
        if row is None:
            raise CatalogError(self._not_published(version))
        catalog = Catalog.from_dict(json.loads(row[0]), f"catalog {version}")
        self._cache[version] = catalog
        return catalog

    def latest_version(self) -> str:
        versions = self.versions()
        if not versions:
            raise CatalogError("no catalog version is published yet (aidlink catalog publish)")
        return versions[-1]

    def entry(self, entry_id: str, version: str) -> CatalogEntry:
        """The entry as published in `version` (the upload path's check). Raises CatalogError."""
        return self.get(version).entry(entry_id, version)

    def diff(self, old: str, new: str) -> CatalogDiff:
        return diff(self.get(old), self.get(new))

    def check_matchable(self, entry_id: str, version: str) -> CatalogEntry:
        """The compare path's check: raises NotShared if the entry is 'not-shared' in the version the
        dataset was uploaded under, or in the latest published version that still lists it (sharing
        withdrawn later stops matching of data uploaded before)."""
        try:
            entry = self.entry(entry_id, version)
        except CatalogError as exc:
            raise NotShared(f"dataset's catalog entry cannot be matched: {exc}") from None
        refuse_not_shared(entry, version)
        for later in reversed(self.versions()):
            current = self.get(later).entries.get(entry_id)
            if current is not None:
                refuse_not_shared(current, later)
                break
        return entry

    def _not_published(self, version: str) -> str:
        known = self.versions()
        return (f"catalog version {version!r} is not published "
                f"(published: {', '.join(known) if known else 'none'})")

    def close(self) -> None:
        """Close the database if this store opened it (a shared `Database` is closed by its owner)."""
        if self._owns_database:
            self.database.close()
