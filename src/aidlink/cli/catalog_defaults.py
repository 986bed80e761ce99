"""What the command line knows of a catalog entry without asking a matcher: the embedded default
catalog's attribute list, so an extract's attribute columns are recognised when `--attribute` is
not given (the node then sends every attribute of the entry)."""

from __future__ import annotations


def entry_attributes(entry_id: str, version: str) -> tuple[str, ...]:
    """The attributes catalog entry `entry_id` lists in the embedded catalog, if it is `version`."""
    from aidlink.matcher.catalog import Catalog

    catalog = Catalog.load()
    entry = catalog.entries.get(entry_id) if catalog.version == version else None
    return entry.attributes if entry is not None else ()
