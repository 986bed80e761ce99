"""One raw person record → the normalized features the Bloom-filter encoder takes.

Policy: every field rule runs and all fatal problems are collected into one RowRejected.
Fatal: name missing/invalid, invalid id_number, invalid birth_date, unrecognised sex, and
neither id_number nor birth_date given. Not fatal (flagged in ``flags``):
- an 18-character id_number whose only fault is a wrong check character (one mistyped or two
  transposed digits): it is kept as written, because the encoding's n-grams still match the
  correct number on most of its digits, but nothing (birth date, sex, division) is derived
  from it; a missing birth date then stays empty.
- birth_date or sex given AND disagreeing with what id_number encodes: the GIVEN value is kept
  in the features and the disagreement is flagged; nothing is silently chosen. A field that
  is missing is filled from id_number (no disagreement exists then).
- an unusable phone: flagged, and the phone feature is left empty (a contact number is an
  auxiliary linkage field and must not cost the whole row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from aidlink.gateway.normalize.address import parse_address
from aidlink.gateway.normalize.dates import parse_date
from aidlink.gateway.normalize.issues import FieldIssue, InvalidField, RowRejected
from aidlink.gateway.normalize.names import name_pinyin, normalize_name
from aidlink.gateway.normalize.phone import normalize_phone
from aidlink.gateway.normalize.resident_id import CheckCharacterMismatch, ResidentId, normalize_resident_id
from aidlink.gateway.normalize.sex import normalize_sex

RAW_FIELDS = ("name", "id_number", "birth_date", "sex", "phone", "address")
T = TypeVar("T")

FEATURE_KEYS = ("name", "name_pinyin", "id_number", "id_number_exact", "birth_date", "sex", "phone", "address")


@dataclass(frozen=True)
class NormalizedPerson:
    """Encoder inputs (``features``), the county division code, and non-fatal flags."""

    features: dict[str, str]
    division_code: str = ""
    flags: list[FieldIssue] = field(default_factory=list)


def normalize_person(raw: Mapping[str, str], *, today: date | None = None) -> NormalizedPerson:
    """Normalize one record; raise RowRejected listing every fatal issue of the row."""
    values = {key: (raw.get(key) or "") for key in RAW_FIELDS}
    issues: list[FieldIssue] = []
    flags: list[FieldIssue] = []

    name = _run(issues, lambda: normalize_name(values["name"]))
    resident_id: ResidentId | None = None
    mistyped_id = ""
    if values["id_number"].strip():
        try:
            resident_id = normalize_resident_id(values["id_number"], today=today)
        except CheckCharacterMismatch as problem:
            mistyped_id = problem.number
            flags.append(
                FieldIssue(
                    problem.issue.field,
                    problem.issue.value,
                    problem.issue.reason + "; kept as written for approximate matching, nothing derived from it",
                )
            )
        except InvalidField as problem:
            issues.append(problem.issue)
    birth_date = ""
    if values["birth_date"].strip():
        parsed = _run(issues, lambda: parse_date(values["birth_date"], today=today))
        birth_date = parsed.strftime("%Y%m%d") if parsed else ""
    sex = _run(issues, lambda: normalize_sex(values["sex"])) or ""
    if not values["id_number"].strip() and not values["birth_date"].strip():
        issues.append(FieldIssue("id_number", "", "id_number or birth_date is required (both are empty)"))

    phone = ""
    try:
        phone = normalize_phone(values["phone"])
    except InvalidField as problem:
        flags.append(FieldIssue(problem.issue.field, problem.issue.value, problem.issue.reason + "; phone left empty"))

    if issues:
        raise RowRejected(issues)

    if resident_id is not None:
        birth_date, sex = _reconcile(values, resident_id, birth_date, sex, flags)
    address = parse_address(values["address"])
    division_code = address.division_code or (resident_id.division_code if resident_id else "")
    features = {
        "name": name or "",
        "name_pinyin": name_pinyin(name or ""),
        "id_number": resident_id.number if resident_id else mistyped_id,
        "id_number_exact": resident_id.number if resident_id else mistyped_id,  # hashed whole (one token)
        "birth_date": birth_date,
        "sex": sex,
        "phone": phone,
        "address": address.canonical,
    }
    return NormalizedPerson(features=features, division_code=division_code, flags=flags)


def _reconcile(
    values: dict[str, str], resident_id: ResidentId, birth_date: str, sex: str, flags: list[FieldIssue]
) -> tuple[str, str]:
    id_birth = resident_id.birth_date_text
    if not birth_date:
        birth_date = id_birth
    elif birth_date != id_birth:
        flags.append(
            FieldIssue(
                "birth_date",
                values["birth_date"],
                f"differs from the birth date {id_birth} in id_number; kept the given value",
            )
        )
    if not sex:
        sex = resident_id.sex
    elif sex != resident_id.sex:
        flags.append(
            FieldIssue(
                "sex",
                values["sex"],
                f"differs from the sex {resident_id.sex} encoded in id_number; kept the given value",
            )
        )
    return birth_date, sex


def _run(issues: list[FieldIssue], rule: Callable[[], T]) -> T | None:
    try:
        return rule()
    except InvalidField as problem:
        issues.append(problem.issue)
        return None
