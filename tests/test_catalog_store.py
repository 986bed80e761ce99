"""The versioned data-resource catalog (Art. 5-7): Art. 6 metadata, immutable published
versions in SQLite, readable diffs, and the not-shared check of the compare path."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from aidlink.matcher.catalog import METADATA, Catalog, CatalogError, NotShared
from aidlink.matcher.catalog_attributes import AttributeType
from aidlink.matcher.catalog_signing import CatalogSignatureError
from aidlink.matcher.catalog_store import CatalogImmutable, CatalogStore
from aidlink.matcher.errors import NotPermitted
from tests.support.catalog_signing import CatalogSigners


def changed(catalog: Catalog, version: str, entry_id: str, **fields) -> Catalog:
    entries = dict(catalog.entries)
    entries[entry_id] = dataclasses.replace(entries[entry_id], **fields)
    return Catalog(version, entries)


def test_default_catalog_describes_every_dataset_of_the_regulation():
    catalog = Catalog.load()
    assert {e.provider for e in catalog.entries.values()} == {
        "mca",
        "edu",
        "hrss",
        "housing",
        "health",
        "mem",
        "nhsa",
        "rural",
        "union",
        "cdpf",
    }
    for entry in catalog.entries.values():
        missing = [k for k in METADATA if not getattr(entry, k)]
        assert not missing, (entry.id, missing)
        assert entry.sharing in ("unconditional", "conditional", "not-shared")
    assert catalog.entries["mca.low-income"].attributes == (
        "category",
        "dispersed",
        "school_age",
        "household",
        "division",
    )


def test_unknown_metadata_key_is_refused_naming_it():
    with pytest.raises(CatalogError, match="unknown key.*colour"):
        Catalog.parse(
            'version = "x"\n[[entry]]\nid="a"\nname="a"\nprovider="mca"\nsharing="conditional"\n'
            'attributes=[]\ncolour="red"'
        )


def test_published_version_is_immutable_and_a_change_is_a_new_version(tmp_path):
    default = Catalog.load()
    signers = CatalogSigners(tmp_path)
    store = CatalogStore.open(tmp_path / "catalog.sqlite", seed=default)
    assert store.versions() == ["2023.1"]
    # the same document again, signed: a no-op
    assert store.publish(*signers.publication(default, ["mca"])).seq == 1

    home_income = AttributeType("home_income", "enum", ("low", "middle"))
    edited = changed(
        default,
        "2023.1",
        "edu.students",
        attributes=("school_stage", "assistance", "assistance_type", "school_age", "division", "home_income"),
        attribute_types=default.entries["edu.students"].attribute_types + (home_income,),
    )
    with pytest.raises(CatalogImmutable, match="2023.1 is published and cannot be changed") as err:
        store.publish(*signers.publication(edited, ["mca", "edu"]))
    assert "added home_income" in str(err.value)
    assert store.entry("edu.students", "2023.1").attributes == default.entries["edu.students"].attributes
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):  # the database refuses too
        with sqlite3.connect(tmp_path / "catalog.sqlite") as conn:
            conn.execute("UPDATE catalog_versions SET document='{}' WHERE version='2023.1'")

    with pytest.raises(CatalogSignatureError, match=r"lacks the signature of mca \(the lead department"):
        store.publish(*signers.publication(changed(edited, "2024.1", "edu.students"), ["edu"]))
    new = changed(edited, "2024.1", "edu.students", update_cycle="monthly")
    info = store.publish(*signers.publication(new, ["edu", "mca"]), note="add household income band")
    assert (info.seq, info.approved_by) == (2, ("edu", "mca"))
    assert store.versions() == ["2023.1", "2024.1"]
    text = store.diff("2023.1", "2024.1").text()
    assert text.splitlines() == [
        "catalog 2023.1 -> 2024.1",
        "~ edu.students",
        "    attributes: added home_income",
        "    update_cycle: 'per school term' -> 'monthly'",
    ]
    assert store.entry("edu.students", "2023.1").attributes == (
        "school_stage",
        "assistance",
        "assistance_type",
        "school_age",
        "division",
    )
    with pytest.raises(CatalogError, match=r"'1999' is not published \(published: 2023.1, 2024.1\)"):
        store.entry("edu.students", "1999")
    store.close()
    reopened = CatalogStore.open(tmp_path / "catalog.sqlite", seed=default)  # survives a restart
    assert reopened.get().version == "2024.1" and reopened.get("2023.1") == Catalog("2023.1", default.entries)


def test_not_shared_entries_cannot_be_matched(tmp_path):
    default = Catalog.load()
    store = CatalogStore.open(tmp_path / "catalog.sqlite", seed=default)
    assert store.check_matchable("mca.low-income", "2023.1").id == "mca.low-income"
    hidden = changed(default, "2024.1", "union.hardship-workers", sharing="not-shared")
    store.publish(*CatalogSigners(tmp_path).publication(hidden, ["mca", "union"]))
    # Sharing withdrawn in a later version stops matching of data uploaded under the earlier one.
    with pytest.raises(NotShared, match="union.hardship-workers is 'not shared' in catalog version 2024.1"):
        store.check_matchable("union.hardship-workers", "2023.1")
    with pytest.raises(NotPermitted):
        store.check_matchable("union.hardship-workers", "2024.1")
    assert store.check_matchable("mca.low-income", "2023.1")
    diff = store.diff("2023.1", "2024.1")
    assert diff.text().endswith("sharing: 'conditional' -> 'not-shared'")
    with pytest.raises(NotShared, match="does not exist"):
        store.check_matchable("mca.nothing", "2023.1")
