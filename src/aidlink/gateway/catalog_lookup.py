"""The catalog entries a gateway node checks attribute values against before it uploads.

Online, the node asks the matcher's Catalog service for the version it uploads under (the
version the matcher will hold the upload to); offline (bundles, local tools) or when that
version is the embedded default, the embedded default catalog answers. Versions are
immutable once published, so each is fetched once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import grpc

from aidlink.matcher.catalog import Catalog, CatalogEntry
from aidlink.v1 import catalog_pb2


class NodeCatalog:
    def __init__(self, stub=None, known: Iterable[Catalog] = ()) -> None:
        """`stub`: a `catalog_pb2_grpc.CatalogStub` on the node's matcher channel, or None (offline);
        `known`: versions the node already holds (a catalog file it was given)."""
        self.stub = stub
        self._versions: dict[str, Catalog] = {c.version: c for c in known}
        self._lock = threading.Lock()

    def version(self, version: str) -> Catalog | None:
        """Catalog `version`, or None when neither the matcher nor the embedded default has it."""
        with self._lock:
            known = self._versions.get(version)
        if known is not None:
            return known
        catalog = self._fetch(version)
        if catalog is None:
            default = Catalog.load()
            catalog = default if default.version == version else None
        if catalog is not None:
            with self._lock:
                self._versions[version] = catalog
        return catalog

    def entry(self, entry_id: str, version: str) -> CatalogEntry | None:
        catalog = self.version(version)
        return None if catalog is None else catalog.entries.get(entry_id)

    def _fetch(self, version: str) -> Catalog | None:
        if self.stub is None:
            return None
        from aidlink.matcher.catalog_service import catalog_from_message

        try:
            return catalog_from_message(self.stub.GetCatalog(catalog_pb2.GetCatalogRequest(version=version)))
        except grpc.RpcError:
            return None  # not published there (the matcher refuses the upload itself) or unreachable
