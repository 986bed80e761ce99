"""The data-resource catalog (Art. 5-7): which datasets exist and what may travel.

A dataset uploaded to the matcher names a catalog entry and version; only the
attributes (information items) that entry lists may travel with it.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SHARING_TYPES = ("unconditional", "conditional", "not-shared")


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    provider: str
    sharing: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    version: str
    entries: dict[str, CatalogEntry]

    def entry(self, entry_id: str, version: str) -> CatalogEntry:
        if version != self.version:
            raise CatalogError(
                f"catalog version {version!r} is not published (current: {self.version!r})")
        try:
            return self.entries[entry_id]
        except KeyError:
            raise CatalogError(f"catalog entry {entry_id!r} does not exist in version {self.version}") from None

    @classmethod
    def load(cls, path: Path | None = None) -> "Catalog":
        if path is None:
            text = resources.files("matcher.data").joinpath("catalog.toml").read_text("utf-8")
            source = "embedded catalog.toml"
        else:
            text, source = Path(path).read_text("utf-8"), str(path)
        return cls.parse(text, source)

    @classmethod
    def parse(cls, text: str, source: str = "catalog") -> "Catalog":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{source}: not valid TOML: {exc}") from None
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise CatalogError(f"{source}: missing catalog 'version'")
        entries: dict[str, CatalogEntry] = {}
        for i, raw in enumerate(data.get("entry", [])):
            where = f"{source}: entry #{i + 1}"
            missing = [k for k in ("id", "name", "provider", "sharing", "attributes") if k not in raw]
            if missing:
                raise CatalogError(f"{where}: missing {', '.join(missing)}")
            if raw["sharing"] not in SHARING_TYPES:
                raise CatalogError(f"{where} ({raw['id']}): sharing must be one of {SHARING_TYPES}")
            if raw["id"] in entries:
                raise CatalogError(f"{where}: duplicate entry id {raw['id']!r}")
            entries[raw["id"]] = CatalogEntry(raw["id"], raw["name"], raw["provider"], raw["sharing"],
                                              tuple(raw["attributes"]))
        return cls(version, entries)
