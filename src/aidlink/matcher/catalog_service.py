"""gRPC servicer for aidlink.v1.Catalog: published catalog versions for nodes and officers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import grpc

from aidlink.matcher.calls import current_call
from aidlink.matcher.catalog import Catalog, CatalogEntry, CatalogError
from aidlink.matcher.catalog_attributes import AttributeType
from aidlink.matcher.catalog_signing import CatalogSignature
from aidlink.matcher.catalog_store import CatalogStore, PublishedVersion
from aidlink.matcher.errors import InvalidInput, Refused
from aidlink.v1 import catalog_pb2, catalog_pb2_grpc


def entry_message(e: CatalogEntry) -> catalog_pb2.CatalogEntry:
    return catalog_pb2.CatalogEntry(
        id=e.id,
        name=e.name,
        provider=e.provider,
        sharing=e.sharing,
        attributes=list(e.attributes),
        category=e.category,
        format=e.format,
        update_cycle=e.update_cycle,
        sharing_conditions=e.sharing_conditions,
        scope=e.scope,
        method=e.method,
        source_system=e.source_system,
        security_class=e.security_class,
        attribute_types=[
            catalog_pb2.AttributeType(
                name=t.name,
                type=t.type,
                values=list(t.values),
                min=t.min,
                max=t.max,
                derived_from=t.derived_from,
                derived_rule=t.derived_rule,
            )
            for t in e.attribute_types
        ],
    )


def entry_from_message(m: catalog_pb2.CatalogEntry) -> CatalogEntry:
    """The entry a matcher's Catalog service sent (already checked when it was published)."""
    return CatalogEntry(
        id=m.id,
        name=m.name,
        provider=m.provider,
        sharing=m.sharing,
        attributes=tuple(m.attributes),
        category=m.category,
        format=m.format,
        update_cycle=m.update_cycle,
        sharing_conditions=m.sharing_conditions,
        scope=m.scope,
        method=m.method,
        source_system=m.source_system,
        security_class=m.security_class,
        attribute_types=tuple(
            AttributeType(t.name, t.type, tuple(t.values), t.min, t.max, t.derived_from, t.derived_rule)
            for t in m.attribute_types
        ),
    )


def catalog_from_message(m: catalog_pb2.CatalogVersion) -> Catalog:
    return Catalog(m.info.version, {e.id: entry_from_message(e) for e in m.entries})


def info_message(p: PublishedVersion) -> catalog_pb2.CatalogVersionInfo:
    when = datetime.fromtimestamp(p.published_at, UTC).isoformat(timespec="seconds")
    return catalog_pb2.CatalogVersionInfo(
        version=p.version,
        seq=p.seq,
        published_at=when.replace("+00:00", "Z"),
        approved_by=list(p.approved_by),
        note=p.note,
        entries=p.entries,
    )


# (document, signatures, note) -> the published version; raises domain refusals naming the rule.
CatalogPublisher = Callable[[bytes, Sequence[CatalogSignature], str], PublishedVersion]


class CatalogServicer(catalog_pb2_grpc.CatalogServicer):
    def __init__(self, store: CatalogStore, publish: CatalogPublisher | None = None) -> None:
        self.store = store
        self.publish = publish

    def PublishCatalog(self, request: catalog_pb2.PublishCatalogRequest, context) -> catalog_pb2.CatalogVersionInfo:
        if self.publish is None:
            raise Refused(
                "this matcher has no CA to verify catalog signatures against "
                "(development mode): publish with aidlink catalog publish on its state"
            )
        signatures = []
        for i, blob in enumerate(request.signatures):
            try:
                signatures.append(CatalogSignature.from_json(blob, f"signatures[{i}]"))
            except (CatalogError, ValueError) as exc:
                raise InvalidInput(f"signatures[{i}]: {exc}") from None
        call = current_call()
        call.datasets = [f"catalog-sha256:{hashlib.sha256(request.document).hexdigest()}"]
        published = self.publish(request.document, signatures, request.note)
        call.datasets = [f"catalog@{published.version}"]
        call.counts = {"entries": published.entries, "signatures": len(signatures)}
        return info_message(published)

    def ListVersions(self, request, context):
        history = self.store.history()
        current_call().counts = {"versions": len(history)}
        return catalog_pb2.ListCatalogVersionsResponse(versions=[info_message(p) for p in history])

    def GetCatalog(self, request, context):
        try:
            catalog = self.store.get(request.version or None)
            info = self.store.published(catalog.version)
        except CatalogError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, f"version: {exc}")
        call = current_call()
        call.datasets = [f"catalog@{catalog.version}"]
        call.counts = {"entries": len(catalog.entries)}
        return catalog_pb2.CatalogVersion(
            info=info_message(info), entries=[entry_message(e) for e in catalog.entries.values()]
        )

    def DiffVersions(self, request, context):
        try:
            d = self.store.diff(request.old_version, request.new_version)
        except CatalogError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        call = current_call()
        call.datasets = [f"catalog@{d.old_version}", f"catalog@{d.new_version}"]
        call.counts = {"changes": len(d.changes)}
        return catalog_pb2.CatalogDiff(
            old_version=d.old_version,
            new_version=d.new_version,
            text=d.text(),
            changes=[
                catalog_pb2.CatalogEntryChange(
                    entry_id=c.entry_id,
                    kind=c.kind,
                    changes=[
                        catalog_pb2.CatalogFieldChange(field=f.field, old_value=_text(f.old), new_value=_text(f.new))
                        for f in c.changes
                    ],
                )
                for c in d.changes
            ],
        )


def _text(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
