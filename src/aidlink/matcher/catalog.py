"""The data-resource catalog (Art. 5-7): which datasets exist and what may travel.

A `Catalog` is one version of the catalog document: entries with the metadata
Art. 6 lists. A dataset uploaded to the matcher names a catalog entry and
version; only the attributes (information items) that entry lists may travel
with it, and an entry shared with no one ("not-shared") is never matched.
Versions are published into `matcher.catalog_store.CatalogStore`, which keeps
them immutable; `diff` says what changed between two versions.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from aidlink.matcher.catalog_attributes import AttributeType, AttributeTypeError, identifier_reason
from aidlink.matcher.errors import NotPermitted

SHARING_TYPES = ("unconditional", "conditional", "not-shared")
REQUIRED = ("id", "name", "provider", "sharing", "attributes")
# Art. 6 metadata beyond the required keys, in the order a person reads them.
METADATA = (
    "category",
    "format",
    "update_cycle",
    "sharing_conditions",
    "scope",
    "method",
    "source_system",
    "security_class",
)


class CatalogError(ValueError):
    pass


class NotShared(NotPermitted):
    """A dataset whose catalog entry is 'not-shared' was asked to be matched."""


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    provider: str
    sharing: str
    attributes: tuple[str, ...]
    category: str = ""
    format: str = ""
    update_cycle: str = ""
    sharing_conditions: str = ""
    scope: str = ""
    method: str = ""
    source_system: str = ""
    security_class: str = ""
    # The declared type of each attribute, in the order of `attributes` (catalog_attributes).
    attribute_types: tuple[AttributeType, ...] = ()

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "attribute_types"}
        types = {t.name: t for t in self.attribute_types}
        data["attributes"] = [types[a].to_dict() if a in types else a for a in self.attributes]
        return data

    def attribute_type(self, name: str) -> AttributeType:
        """The declared type of attribute `name` (untyped: a version published before types)."""
        for t in self.attribute_types:
            if t.name == name:
                return t
        return AttributeType(name, "")

    def attribute_problem(self, name: str, value: str, *, echo: bool = True) -> str | None:
        """Why `value` may not travel as attribute `name` of this entry, or None (`echo`: quote it)."""
        if name not in self.attributes:
            return f"not listed in catalog entry {self.id} (allowed: {', '.join(self.attributes)})"
        return self.attribute_type(name).problem(value, echo=echo)

    @classmethod
    def from_dict(cls, data: dict, where: str = "catalog entry", *, untyped_ok: bool = False) -> CatalogEntry:
        """`untyped_ok`: accept attributes listed by name only (versions published before types)."""
        known = {f.name for f in fields(cls)} - {"attribute_types"}
        names, types = [], []
        for raw in data.get("attributes", []):
            if isinstance(raw, str) and untyped_ok:
                names.append(raw)
                continue
            try:
                declared = AttributeType.from_declaration(raw, where)
            except AttributeTypeError as exc:
                raise CatalogError(str(exc)) from None
            names.append(declared.name)
            types.append(declared)
        values = {k: v for k, v in data.items() if k in known and k != "attributes"}
        return cls(**values, attributes=tuple(names), attribute_types=tuple(types))


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any  # the field's value before: a string, a tuple of names or of AttributeTypes
    new: Any


@dataclass(frozen=True)
class EntryChange:
    entry_id: str
    kind: str  # added | removed | changed
    changes: tuple[FieldChange, ...] = ()

    def describe(self) -> list[str]:
        if self.kind == "added":
            return [f"+ {self.entry_id} (new entry)"]
        if self.kind == "removed":
            return [f"- {self.entry_id} (entry withdrawn)"]
        lines = [f"~ {self.entry_id}"]
        for c in self.changes:
            if c.field == "attribute_types":
                old_types = {t.name: t for t in c.old}
                for t in c.new:
                    if t.name in old_types and old_types[t.name] != t:
                        lines.append(f"    attribute {t.name}: {old_types[t.name].allowed()} -> {t.allowed()}")
            elif c.field == "attributes":
                old, new = set(c.old), set(c.new)
                added, removed = sorted(new - old), sorted(old - new)
                detail = "; ".join(
                    p
                    for p in (
                        f"added {', '.join(added)}" if added else "",
                        f"removed {', '.join(removed)}" if removed else "",
                    )
                    if p
                )
                lines.append(f"    attributes: {detail or 'reordered'}")
            else:
                lines.append(f"    {c.field}: {c.old!r} -> {c.new!r}")
        return lines


@dataclass(frozen=True)
class CatalogDiff:
    old_version: str
    new_version: str
    changes: tuple[EntryChange, ...]

    def text(self) -> str:
        head = f"catalog {self.old_version} -> {self.new_version}"
        if not self.changes:
            return f"{head}: no changes"
        return "\n".join([head] + [line for c in self.changes for line in c.describe()])


def diff(old: Catalog, new: Catalog) -> CatalogDiff:
    """What changed from `old` to `new`, entry by entry and field by field."""
    out: list[EntryChange] = []
    for entry_id in sorted(set(old.entries) | set(new.entries)):
        a, b = old.entries.get(entry_id), new.entries.get(entry_id)
        if a is None:
            out.append(EntryChange(entry_id, "added"))
        elif b is None:
            out.append(EntryChange(entry_id, "removed"))
        elif a != b:
            changed = tuple(
                FieldChange(f.name, getattr(a, f.name), getattr(b, f.name))
                for f in fields(CatalogEntry)
                if getattr(a, f.name) != getattr(b, f.name)
            )
            out.append(EntryChange(entry_id, "changed", changed))
    return CatalogDiff(old.version, new.version, tuple(out))


@dataclass(frozen=True)
class Catalog:
    version: str
    entries: dict[str, CatalogEntry]

    def entry(self, entry_id: str, version: str) -> CatalogEntry:
        if version != self.version:
            raise CatalogError(f"catalog version {version!r} is not published (current: {self.version!r})")
        try:
            return self.entries[entry_id]
        except KeyError:
            raise CatalogError(f"catalog entry {entry_id!r} does not exist in version {self.version}") from None

    def check_matchable(self, entry_id: str, version: str) -> CatalogEntry:
        """The entry, or NotShared if its datasets may not be matched (Art. 6 sharing type)."""
        try:
            entry = self.entry(entry_id, version)
        except CatalogError as exc:
            raise NotShared(f"dataset's catalog entry cannot be matched: {exc}") from None
        refuse_not_shared(entry, version)
        return entry

    def to_dict(self) -> dict:
        return {"version": self.version, "entry": [e.to_dict() for e in self.entries.values()]}

    def to_toml(self) -> str:
        """This version as a catalog TOML file (what is signed and published)."""

        def value(v: object) -> str:
            if isinstance(v, dict):
                return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
            if isinstance(v, list):
                return "[" + ", ".join(value(x) for x in v) + "]"
            return json.dumps(v, ensure_ascii=False)  # a JSON string or integer is a TOML one

        lines = [f"version = {value(self.version)}"]
        for entry in self.entries.values():
            lines += ["", "[[entry]]"]
            for key, v in entry.to_dict().items():
                if key == "attributes":
                    lines += ["attributes = ["] + [f"    {value(a)}," for a in v] + ["]"]
                elif v != "" or key in REQUIRED:
                    lines.append(f"{key} = {value(v)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        if path is None:
            text = resources.files("aidlink.matcher.data").joinpath("catalog.toml").read_text("utf-8")
            source = "embedded catalog.toml"
        else:
            text, source = Path(path).read_text("utf-8"), str(path)
        return cls.parse(text, source)

    @classmethod
    def parse(cls, text: str, source: str = "catalog") -> Catalog:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{source}: not valid TOML: {exc}") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict, source: str = "catalog", *, untyped_ok: bool = False) -> Catalog:
        """Check and build a catalog version. `untyped_ok` reads a version published before attribute
        types (stored documents only): a new version types every attribute."""
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise CatalogError(f"{source}: missing catalog 'version'")
        identifiers = _identifier_attributes(data.get("entry", []))
        if identifiers:
            raise CatalogError(
                f"{source}: catalog version {version} lists person identifiers as attributes "
                f"({'; '.join(identifiers)}); names, ID numbers, phone numbers, addresses and "
                f"birth dates never travel as attributes, only as keyed encodings"
            )
        entries: dict[str, CatalogEntry] = {}
        for i, raw in enumerate(data.get("entry", [])):
            where = f"{source}: entry #{i + 1}"
            missing = [k for k in REQUIRED if k not in raw]
            if missing:
                raise CatalogError(f"{where}: missing {', '.join(missing)}")
            if raw["sharing"] not in SHARING_TYPES:
                raise CatalogError(f"{where} ({raw['id']}): sharing must be one of {SHARING_TYPES}")
            if raw["id"] in entries:
                raise CatalogError(f"{where}: duplicate entry id {raw['id']!r}")
            unknown = sorted(set(raw) - set(REQUIRED) - set(METADATA))
            if unknown:
                raise CatalogError(
                    f"{where} ({raw['id']}): unknown key(s) {', '.join(unknown)} (metadata keys: {', '.join(METADATA)})"
                )
            attrs = raw["attributes"]
            if not isinstance(attrs, list):
                raise CatalogError(f"{where} ({raw['id']}): attributes must be a list of typed attributes")
            for key in METADATA:
                if not isinstance(raw.get(key, ""), str):
                    raise CatalogError(f"{where} ({raw['id']}): {key} must be text")
            entry = CatalogEntry.from_dict(raw, f"{where} ({raw['id']})", untyped_ok=untyped_ok)
            if len(set(entry.attributes)) != len(entry.attributes):
                raise CatalogError(f"{where} ({raw['id']}): attributes list a name twice")
            entries[raw["id"]] = entry
        return cls(version, entries)


def _identifier_attributes(raw_entries: object) -> list[str]:
    """'<entry>: <attribute>' for every attribute, typed or not, whose name is a person identifier."""
    found = []
    for i, raw in enumerate(raw_entries if isinstance(raw_entries, list) else []):
        if not isinstance(raw, dict) or not isinstance(raw.get("attributes"), list):
            continue
        for attribute in raw["attributes"]:
            name = attribute.get("name") if isinstance(attribute, dict) else attribute
            if isinstance(name, str) and identifier_reason(name):
                found.append(f"{raw.get('id', f'entry #{i + 1}')}: {name}")
    return found


def refuse_not_shared(entry: CatalogEntry, version: str) -> None:
    if entry.sharing == "not-shared":
        raise NotShared(
            f"catalog entry {entry.id} is 'not shared' in catalog version {version}; "
            f"its datasets cannot be matched (Art. 6)"
        )
