"""Normalization of Chinese person fields at the gateway node (one rule per module).

The entry point is :func:`normalize_person`; each field rule is also usable on its own.
"""

from aidlink.gateway.normalize.address import ParsedAddress, normalize_address, parse_address
from aidlink.gateway.normalize.dates import normalize_date, parse_date
from aidlink.gateway.normalize.issues import FieldIssue, InvalidField, RowRejected
from aidlink.gateway.normalize.names import name_pinyin, normalize_name
from aidlink.gateway.normalize.person import FEATURE_KEYS, NormalizedPerson, normalize_person
from aidlink.gateway.normalize.phone import normalize_phone
from aidlink.gateway.normalize.resident_id import ResidentId, check_character, normalize_resident_id, upgrade_legacy
from aidlink.gateway.normalize.sex import normalize_sex

__all__ = [
    "FEATURE_KEYS",
    "FieldIssue",
    "InvalidField",
    "NormalizedPerson",
    "ParsedAddress",
    "ResidentId",
    "RowRejected",
    "check_character",
    "name_pinyin",
    "normalize_address",
    "normalize_date",
    "normalize_name",
    "normalize_person",
    "normalize_phone",
    "normalize_resident_id",
    "normalize_sex",
    "parse_address",
    "parse_date",
    "upgrade_legacy",
]
