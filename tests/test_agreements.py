"""Sharing agreements and the catalog as data: the default set encodes Art. 14,
bad files are refused on load with errors naming what is wrong."""

from __future__ import annotations

from datetime import date

import pytest

from aidlink.cli.main import main
from aidlink.matcher.agreements import AgreementError, AgreementSet, Refusal
from aidlink.matcher.catalog import Catalog, CatalogError

GOOD = """
version = "t1"
[[agreement]]
id = "a1"
provider = "mca"
user = "edu"
catalog_entries = ["mca.low-income"]
purposes = ["eligibility-check"]
returns = ["category"]
record_filter = [{ category = ["dibao"] }]
valid_from = 2023-01-01
valid_until = 2024-12-31
"""


def test_default_agreements_encode_the_five_art14_exchanges():
    agreements = AgreementSet.load()
    pairs = {(p, u) for a in agreements.agreements for p in a.providers for u in a.users}
    for other in ("edu", "hrss", "housing", "nhsa"):
        assert ("mca", other) in pairs and (other, "mca") in pairs
    for other in ("mem", "rural", "union", "cdpf"):
        assert (other, "mca") in pairs and ("mca", other) in pairs
    assert ("health", "mca") not in pairs and ("edu", "nhsa") not in pairs
    edu = agreements.find(
        user="edu", provider="mca", catalog_entry="mca.low-income", purpose="eligibility-check", today=date(2025, 1, 1)
    )
    # the school-age restriction for education
    assert edu.admits({"category": "dibao", "school_age": "yes"})
    assert not edu.admits({"category": "dibao", "school_age": "no"})
    assert not edu.admits({"category": "linshi", "school_age": "yes"})
    housing = agreements.find(
        user="housing",
        provider="mca",
        catalog_entry="mca.low-income",
        purpose="eligibility-check",
        today=date(2025, 1, 1),
    )
    # dispersed 特困 only, for housing
    assert housing.admits({"category": "tekun", "dispersed": "1"})
    assert not housing.admits({"category": "tekun", "dispersed": "0"})
    assert housing.admits({"category": "dibao"})


def test_refusals_name_what_is_missing():
    agreements = AgreementSet.parse(GOOD)
    missing = agreements.find(
        user="nhsa", provider="mca", catalog_entry="mca.low-income", purpose="eligibility-check", today=date(2024, 1, 1)
    )
    assert isinstance(missing, Refusal) and "no sharing agreement lets nhsa use mca's mca.low-income" in missing.message
    purpose = agreements.find(
        user="edu", provider="mca", catalog_entry="mca.low-income", purpose="referral", today=date(2024, 1, 1)
    )
    assert isinstance(purpose, Refusal) and "a1 does not allow purpose 'referral'" in purpose.message
    expired = agreements.find(
        user="edu", provider="mca", catalog_entry="mca.low-income", purpose="eligibility-check", today=date(2025, 6, 1)
    )
    assert isinstance(expired, Refusal) and "not in force on 2025-06-01" in expired.message


@pytest.mark.parametrize(
    "change, message",
    [
        (('user = "edu"', 'user = "police"'), "unknown department 'police'"),
        (('purposes = ["eligibility-check"]', 'purposes = ["marketing"]'), "unknown purpose 'marketing'"),
        (("valid_until = 2024-12-31", "valid_until = 2022-12-31"), "is before valid_from"),
        (('returns = ["category"]', 'returns = ["category"]\nreturn_all = true'), "unknown key(s) return_all"),
        (('id = "a1"\n', ""), "missing id"),
        (('version = "t1"', "version = 1"), "missing agreement set 'version'"),
        (
            ('record_filter = [{ category = ["dibao"] }]', "record_filter = [{ category = [] }]"),
            "record_filter.category",
        ),
    ],
)
def test_bad_agreement_files_are_refused_on_load(change, message):
    old, new = change
    with pytest.raises(AgreementError) as err:
        AgreementSet.parse(GOOD.replace(old, new), "agreements.toml")
    assert message in str(err.value) and "agreements.toml" in str(err.value)


def test_duplicate_ids_and_broken_toml_are_refused():
    with pytest.raises(AgreementError, match="duplicate agreement id 'a1'"):
        AgreementSet.parse(GOOD + GOOD.replace('version = "t1"', ""))
    with pytest.raises(AgreementError, match="not valid TOML"):
        AgreementSet.parse("version = ")


def test_catalog_entries_and_errors():
    catalog = Catalog.load()
    entry = catalog.entry("edu.students", catalog.version)
    assert entry.provider == "edu" and "assistance" in entry.attributes
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
    with pytest.raises(CatalogError, match="catalog version '1999' is not published"):
        catalog.entry("edu.students", "1999")
    with pytest.raises(CatalogError, match="'edu.nothing' does not exist"):
        catalog.entry("edu.nothing", catalog.version)
    with pytest.raises(CatalogError, match="sharing must be one of"):
        Catalog.parse('version = "x"\n[[entry]]\nid="a"\nname="a"\nprovider="mca"\nsharing="maybe"\nattributes=[]')


def test_agreements_command_prints_the_art14_table(capsys):
    assert main(["matcher", "agreements"]) == 0
    out = capsys.readouterr().out
    for n in range(1, 6):
        assert f"Art. 14({n})" in out
    assert "category=dibao|tekun|bianyuan|zhichu & school_age=yes" in out
    assert "category=tekun & dispersed=1" in out
    assert "mem,rural,union,cdpf → mca" in out
