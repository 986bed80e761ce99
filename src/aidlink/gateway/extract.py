"""Reading department extracts: CSV in UTF-8 or GBK/GB18030, columns mapped
to aidlink's person fields by a small config.

Chinese government exports are often GBK; GB18030 is its superset, so a file
that is not valid UTF-8 is read as GB18030. A header column that is neither a
person field, the id column, a declared attribute nor explicitly ignored is an
error naming the column, so a mapping mistake never passes silently.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PERSON_FIELDS = ("name", "id_number", "birth_date", "sex", "phone", "address")

# Headers Chinese systems commonly use, mapped to person fields.
BUILTIN_ALIASES = {
    "姓名": "name",
    "名字": "name",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "公民身份号码": "id_number",
    "证件号码": "id_number",
    "出生日期": "birth_date",
    "出生年月日": "birth_date",
    "性别": "sex",
    "联系电话": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "电话": "phone",
    "住址": "address",
    "地址": "address",
    "家庭住址": "address",
    "户籍地址": "address",
    "记录编号": "rec_id",
    "编号": "rec_id",
    "户编号": "household_id",
    "家庭编号": "household_id",
}


class ExtractError(ValueError):
    """The extract cannot be read at all (as opposed to one bad row)."""


@dataclass(frozen=True)
class ColumnMapping:
    """Header name -> aidlink field name; `ignore` lists columns to drop."""

    rename: Mapping[str, str] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path | str) -> ColumnMapping:
        path = Path(path)
        text = path.read_text("utf-8")
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ExtractError(f"column mapping {path}: {exc}") from None
        rename = data.get("columns", {})
        if not isinstance(rename, dict) or not all(isinstance(v, str) for v in rename.values()):
            raise ExtractError(f"column mapping {path}: 'columns' must map header names to field names")
        return cls(rename, frozenset(data.get("ignore", [])))

    def field_for(self, header: str) -> str | None:
        if header in self.ignore:
            return None
        header = header.strip()
        return self.rename.get(header) or BUILTIN_ALIASES.get(header) or header


def decode(raw: bytes) -> tuple[str, str]:
    """(text, encoding name): UTF-8 (with or without BOM), else GB18030."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ExtractError(f"the file is neither UTF-8 nor GBK/GB18030 (byte {exc.start})") from None


@dataclass
class Extract:
    columns: list[str]  # aidlink field names, in file order
    rows: list[dict[str, str]]  # one dict per data row, keyed by field name
    row_numbers: list[int]  # each row's 1-based data row number in the file
    encoding: str
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)


def read_extract(
    path: Path | str,
    *,
    mapping: ColumnMapping | None = None,
    id_column: str = "rec_id",
    attributes: tuple[str, ...] = (),
    allow_unknown: bool = False,
) -> Extract:
    raw = Path(path).read_bytes()
    text, encoding = decode(raw)
    return parse_extract(
        text,
        encoding=encoding,
        mapping=mapping,
        id_column=id_column,
        attributes=attributes,
        allow_unknown=allow_unknown,
    )


def parse_extract(
    text: str,
    *,
    encoding: str = "utf-8",
    mapping: ColumnMapping | None = None,
    id_column: str = "rec_id",
    attributes: tuple[str, ...] = (),
    allow_unknown: bool = False,
) -> Extract:
    mapping = mapping or ColumnMapping()
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ExtractError("the extract is empty: no header row")
    fields: list[str | None] = [mapping.field_for(h) for h in header]
    known = set(PERSON_FIELDS) | {id_column, "household_id"} | set(attributes)
    unknown = [h for h, f in zip(header, fields) if f is not None and f not in known]
    if unknown and not allow_unknown:
        raise ExtractError(
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}: not a person field "
            f"({', '.join(PERSON_FIELDS)}), the id column {id_column!r} or a declared attribute; "
            f"map or ignore them in a column mapping file"
        )
    seen = [f for f in fields if f is not None]
    duplicates = sorted({f for f in seen if seen.count(f) > 1})
    if duplicates:
        raise ExtractError(f"several columns map to {', '.join(duplicates)}")
    if id_column not in seen:
        raise ExtractError(f"the id column {id_column!r} is missing (header: {', '.join(header)})")
    rows, numbers, problems = [], [], []
    for number, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append((number, f"has {len(values)} fields, the header has {len(header)}"))
            continue
        rows.append({f: v.strip() for f, v in zip(fields, values) if f is not None})
        numbers.append(number)
    return Extract([f for f in fields if f is not None], rows, numbers, encoding, problems)


def write_csv(path: Path | str, header: list[str], rows: Iterator[list[str]] | list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
