"""Published catalog versions, kept immutable in the matcher's database (Art. 7).

Publishing stores a whole catalog version; once published it is never changed:
publishing the same version again with different content is refused (the
database refuses updates and deletes too), and a change is a new version, with
a readable diff against any earlier one. The store answers the matcher's upload
path (`entry`) and compare path (`check_matchable`) for every published version.

Changes are made jointly with civil affairs (Art. 7): a new version is published only
with signatures over its exact TOML bytes by mca's node certificate and by each provider
whose entries change (matcher.catalog_signing), verified against the custodian CA and
CRL; the signatures are stored with the version. The one exception is the bootstrap: the
catalog the matcher is configured with (by default the embedded one) is published,
unsigned, as the first version of an empty store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aidlink.keys.identity import CertificatePolicy
from aidlink.matcher.catalog import Catalog, CatalogDiff, CatalogEntry, CatalogError, NotShared, diff, refuse_not_shared
from aidlink.matcher.catalog_schema import COMPONENT, MIGRATIONS
from aidlink.matcher.catalog_signing import LEAD_DEPARTMENT, CatalogSignature, Signer, verify_publication
from aidlink.matcher.state_database import StateTarget, open_state_database, serialize_writers

BOOTSTRAP_NOTE = "published at matcher start (configured catalog, trusted bootstrap of an empty store)"


class CatalogImmutable(CatalogError):
    """An attempt to change a published catalog version."""


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    seq: int  # publication order, 1 = first
    published_at: float
    approved_by: tuple[str, ...]
    note: str
    entries: int


class CatalogStore:
    """Every published catalog version; the matcher's `Exchange.catalog`."""

    def __init__(self, database: StateTarget) -> None:
        """`database`: a shared `Database`, a database URL, or an SQLite file path."""
        self.database, self._owns_database = open_state_database(database, COMPONENT, MIGRATIONS)
        self._cache: dict[str, Catalog] = {}  # safe: a published version never changes

    @classmethod
    def open(cls, database: StateTarget, seed: Catalog | None = None) -> CatalogStore:
        """Open the store. `seed` (the configured catalog, e.g. the embedded default) is published
        as the trusted bootstrap if the store is empty; a store that has versions but not the seed's
        is refused: a new version is published signed (aidlink catalog sign / publish --signature)."""
        store = cls(database)
        if seed is not None:
            try:
                known = store.versions()
                if not known:
                    store._insert(seed, (LEAD_DEPARTMENT,), BOOTSTRAP_NOTE)
                elif seed.version not in known:
                    raise CatalogError(
                        f"the configured catalog version {seed.version} is not published in this store "
                        f"(published: {', '.join(known)}); only an empty store takes the configured catalog "
                        f"unsigned. Publish it signed: aidlink catalog sign, then aidlink catalog publish "
                        f"--signature ..."
                    )
            except BaseException:
                store.close()
                raise
        return store

    # -- publishing ---------------------------------------------------------------------------
    def publish(
        self,
        document: bytes,
        signatures: Sequence[CatalogSignature],
        policy: CertificatePolicy,
        note: str = "",
        *,
        now: datetime | None = None,
    ) -> PublishedVersion:
        """Verify the signatures over the catalog file `document` (the matcher's check: CA, CRL,
        mca and every changed provider) and publish it as a new immutable version. Publishing an
        identical copy of a published version is a no-op; a different document under a published
        version is refused."""
        versions = self.versions()
        previous = self.get(versions[-1]) if versions else None
        catalog, signers = verify_publication(document, signatures, policy, previous, now=now)
        departments = tuple(sorted({s.department for s in signers}))
        record = json.dumps([s.to_dict() for s in signatures], sort_keys=True)
        return self._insert(
            catalog,
            departments,
            note,
            source=document.decode("utf-8"),
            signatures=record,
            previous=previous.version if previous else None,
        )

    def _insert(
        self,
        catalog: Catalog,
        approved: tuple[str, ...],
        note: str,
        *,
        source: str | None = None,
        signatures: str | None = None,
        previous: str | None = None,
    ) -> PublishedVersion:
        document = json.dumps(catalog.to_dict(), ensure_ascii=False, sort_keys=True)
        db = self.database
        with db.transaction() as cur:
            serialize_writers(cur, db, "catalog publish")  # one publisher at a time: seq and version checks
            cur.execute(db.sql("SELECT document FROM catalog_versions WHERE version=?"), (catalog.version,))
            row = cur.fetchone()
            if row is not None:
                if row[0] != document:
                    published = Catalog.from_dict(json.loads(row[0]), f"catalog {catalog.version}", untyped_ok=True)
                    changes = diff(published, catalog).text().split("\n", 1)[-1]
                    raise CatalogImmutable(
                        f"catalog version {catalog.version} is published and cannot be changed; publish the "
                        f"change as a new version. Attempted change:\n{changes}"
                    )
            else:
                cur.execute("SELECT version FROM catalog_versions ORDER BY seq DESC LIMIT 1")
                latest = cur.fetchone()
                if source is not None and (latest[0] if latest else None) != previous:
                    raise CatalogError(
                        f"catalog version {latest[0]} was published while version "
                        f"{catalog.version} was being verified against {previous}; verify again"
                    )
                cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM catalog_versions")
                (seq,) = cur.fetchone()
                cur.execute(
                    db.sql(
                        "INSERT INTO catalog_versions (version, seq, published_at, approved_by, note,"
                        " document) VALUES (?,?,?,?,?,?)"
                    ),
                    (catalog.version, seq, time.time(), json.dumps(list(approved)), note, document),
                )
                if source is not None:
                    cur.execute(
                        db.sql("INSERT INTO catalog_publications (version, source, signatures) VALUES (?,?,?)"),
                        (catalog.version, source, signatures),
                    )
        return self.published(catalog.version)

    def verify(self, version: str, policy: CertificatePolicy, *, now: datetime | None = None) -> list[Signer]:
        """Re-verify a published version's stored signatures (now, against `policy`'s CA and CRL).
        [] for the bootstrap version, which was published unsigned from the matcher's configuration."""
        self.published(version)
        row = self.database.fetch_one("SELECT source, signatures FROM catalog_publications WHERE version=?", (version,))
        if row is None:
            return []
        versions = self.versions()
        earlier = versions[: versions.index(version)]
        previous = self.get(earlier[-1]) if earlier else None
        signatures = [
            CatalogSignature.from_dict(d, f"stored signature {n + 1} of {version}")
            for n, d in enumerate(json.loads(row[1]))
        ]
        return verify_publication(row[0].encode("utf-8"), signatures, policy, previous, now=now)[1]

    # -- reading ------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Published versions, oldest first."""
        with self.database.reading() as cur:
            cur.execute("SELECT version FROM catalog_versions ORDER BY seq")
            return [r[0] for r in cur.fetchall()]

    def published(self, version: str) -> PublishedVersion:
        row = self.database.fetch_one(
            "SELECT version, seq, published_at, approved_by, note, document FROM catalog_versions WHERE version=?",
            (version,),
        )
        if row is None:
            raise CatalogError(self._not_published(version))
        return PublishedVersion(
            row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], len(json.loads(row[5]).get("entry", []))
        )

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
        catalog = Catalog.from_dict(json.loads(row[0]), f"catalog {version}", untyped_ok=True)
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
        return f"catalog version {version!r} is not published (published: {', '.join(known) if known else 'none'})"

    def close(self) -> None:
        """Close the database if this store opened it (a shared `Database` is closed by its owner)."""
        if self._owns_database:
            self.database.close()
