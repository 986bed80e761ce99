"""Reading department extracts: CSV or TSV in UTF-8, GBK/GB18030 or UTF-16 (with its
byte-order mark), or Excel .xlsx (first sheet, header row); columns mapped to aidlink's person
fields by a small config.

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
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
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
        """Read a mapping file (TOML, or JSON unless it ends in .toml); errors name the file and say what to do."""
        path = Path(path)
        where = f"column mapping {path} (--mapping)"
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ExtractError(f"{where}: cannot read it: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ExtractError(f"{where}: not UTF-8 text; save it as UTF-8") from None
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ExtractError(
                f'{where}: not valid TOML: {exc} (quote Chinese header names: "姓名" = "name")'
            ) from None
        except json.JSONDecodeError as exc:
            raise ExtractError(f"{where}: not valid JSON: {exc} (a TOML file must end in .toml)") from None
        if not isinstance(data, dict):
            raise ExtractError(f"{where}: expected a table with [columns] (header = field) and ignore = [...]")
        rename = data.get("columns", {})
        if not isinstance(rename, dict) or not all(isinstance(v, str) for v in rename.values()):
            raise ExtractError(f"{where}: 'columns' must map header names to field names")
        ignore = data.get("ignore", [])
        if not isinstance(ignore, list) or not all(isinstance(v, str) for v in ignore):
            raise ExtractError(f"{where}: 'ignore' must be a list of header names (before the [columns] table)")
        unknown_keys = sorted(set(data) - {"columns", "ignore"})
        if unknown_keys:
            raise ExtractError(
                f"{where}: unknown key(s) {', '.join(unknown_keys)}; expected [columns] and ignore "
                "(a key after [columns] belongs to that table)"
            )
        return cls(rename, frozenset(ignore))

    def field_for(self, header: str) -> str | None:
        if header in self.ignore:
            return None
        header = header.strip()
        return self.rename.get(header) or BUILTIN_ALIASES.get(header) or header


def decode(raw: bytes) -> tuple[str, str]:
    """(text, encoding name): UTF-16 with a byte-order mark, UTF-8 (with or without BOM), else GB18030."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ExtractError(
                f"the file starts with a UTF-16 byte-order mark but is not UTF-16 (byte {exc.start})"
            ) from None
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ExtractError(
            f"the file is neither UTF-8 nor GBK/GB18030 nor UTF-16 with a byte-order mark (byte {exc.start}); "
            "save it as CSV UTF-8 or give the .xlsx file"
        ) from None


def delimiter_of(text: str, suffix: str) -> str:
    """Tab for .tsv files and for text whose header line has tabs and no commas; else comma."""
    header = text.split("\n", 1)[0]
    return "\t" if suffix == ".tsv" or ("\t" in header and "," not in header) else ","


def cell_text(value: object) -> str:
    """An .xlsx cell as the text a CSV export would hold: dates as YYYY-MM-DD, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


EXACT_DIGITS_LIMIT = 10**15  # Excel numbers have 15 significant digits; a longer one is already damaged


def xlsx_rows(path: Path) -> list[list[str]]:
    """The first sheet's rows as text (openpyxl, read-only; formulas as their cached values)."""
    from openpyxl import load_workbook  # only .xlsx needs it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ExtractError(f"not a readable .xlsx workbook ({exc}); save it again from Excel or as CSV") from None
    try:
        sheet = workbook.worksheets[0]
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    for number, row in enumerate(rows[1:], start=1):
        for column, value in enumerate(row):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= EXACT_DIGITS_LIMIT:
                name = rows[0][column] if column < len(rows[0]) else f"#{column + 1}"
                raise ExtractError(
                    f"row {number}, column {name}: {Decimal(f'{value:.15g}'):f} is stored as a number, and Excel keeps only 15 "
                    "digits of a number (an 18-digit ID loses its last ones): format the column as Text "
                    "and export again, or save the sheet as CSV from the source system"
                )
    return [[cell_text(v) for v in row] for row in rows]


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
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExtractError(f"cannot read the extract: {exc.strerror or exc}; check the path") from None
    if raw.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE2 compound file: Excel 97-2003
        raise ExtractError("an old Excel .xls workbook: save it as .xlsx (Excel Workbook) or as CSV UTF-8")
    if raw.startswith(b"PK\x03\x04"):  # a zip container: .xlsx
        rows = xlsx_rows(path)
        (
            header,
            body,
            encoding,
        ) = rows[0] if rows else [], iter(rows[1:]), "xlsx"
    else:
        text, encoding = decode(raw)
        delimiter = delimiter_of(text, path.suffix.lower())
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header, body = next(reader, []), reader
        encoding = encoding if delimiter == "," else f"{encoding}, tab-separated"
    return extract_from_rows(
        header,
        body,
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
    delimiter: str = ",",
) -> Extract:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return extract_from_rows(
        next(reader, []),
        reader,
        encoding=encoding if delimiter == "," else f"{encoding}, tab-separated",
        mapping=mapping,
        id_column=id_column,
        attributes=attributes,
        allow_unknown=allow_unknown,
    )


def extract_from_rows(
    header: list[str],
    reader: Iterable[list[str]],
    *,
    encoding: str,
    mapping: ColumnMapping | None = None,
    id_column: str = "rec_id",
    attributes: tuple[str, ...] = (),
    allow_unknown: bool = False,
) -> Extract:
    """Map a header and its data rows to aidlink fields (shared by CSV, TSV and .xlsx)."""
    mapping = mapping or ColumnMapping()
    while header and not header[-1].strip():  # spreadsheets pad the header with empty cells
        header = header[:-1]
    if not header:
        raise ExtractError("the extract is empty: no header row")
    fields: list[str | None] = [mapping.field_for(h) for h in header]
    known = set(PERSON_FIELDS) | {id_column, "household_id"} | set(attributes)
    unknown = [h for h, f in zip(header, fields) if f is not None and f not in known]
    if unknown and not allow_unknown:
        named = [repr(h) + (f" (mapped to {f!r})" if f != h else "") for h, f in zip(header, fields) if h in unknown]
        raise ExtractError(
            f"unknown column(s) {', '.join(named)}: not a person field "
            f"({', '.join(PERSON_FIELDS)}), the id column {id_column!r} or a declared attribute; "
            f"map or ignore them in a column mapping file"
        )
    if unknown and allow_unknown and "id_number" not in fields:
        raise ExtractError(
            f"no column maps to id_number, and --allow-unknown-columns would drop "
            f"{', '.join(repr(u) for u in unknown)}: map the resident ID column to id_number in a column "
            f"mapping file (--mapping)"
        )
    seen = [f for f in fields if f is not None]
    duplicates = sorted({f for f in seen if seen.count(f) > 1})
    if duplicates:
        raise ExtractError(f"several columns map to {', '.join(duplicates)}")
    if id_column not in seen:
        raise ExtractError(
            f"the id column {id_column!r} is missing (header: {', '.join(header)}); "
            "name the record id column with --id-column or map it in a column mapping file"
        )
    rows, numbers, problems = [], [], []
    for number, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue
        while len(values) > len(header) and not values[-1].strip():  # trailing empty spreadsheet cells
            values = values[:-1]
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
