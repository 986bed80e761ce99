"""The extracts offices actually have: .xlsx, TSV, UTF-16 CSV; Chinese-numeral and Excel-serial dates."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.extract import ColumnMapping, ExtractError, read_extract
from aidlink.gateway.normalize.dates import normalize_date
from aidlink.gateway.normalize.issues import InvalidField
from aidlink.gateway.pipeline import RecordPipeline

HEADER = ["rec_id", "name", "id_number", "birth_date", "sex"]
ROWS = [
    ["r1", "王小明", "320102201203150118", "2012-03-15", "男"],
    ["r2", "李晓红", "320102201407090225", "2014-07-09", "女"],
]
EXPECTED = [dict(zip(HEADER, row)) for row in ROWS]


def test_xlsx_first_sheet_header_row_and_date_cells(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "姓名", "身份证号", "出生日期", "性别", None])  # a padded header cell
    sheet.append(["r1", "王小明", "320102201203150118", datetime(2012, 3, 15), "男"])
    sheet.append(["r2", "李晓红", "320102201407090225", date(2014, 7, 9), "女"])
    sheet.append([None, None, None, None, None])  # an empty row a spreadsheet leaves behind
    book.create_sheet("说明").append(["this second sheet is not read"])
    path = tmp_path / "extract.xlsx"
    book.save(path)
    extract = read_extract(path)
    assert extract.encoding == "xlsx"
    assert extract.rows == EXPECTED and extract.row_numbers == [1, 2] and not extract.problems


def test_xlsx_numbers_are_written_as_a_csv_export_would(tmp_path):
    book = Workbook()
    book.active.append(["rec_id", "name", "birth_date"])
    book.active.append([17, "王小明", 29221])  # an id typed as a number; a date cell saved as "General"
    path = tmp_path / "numbers.xlsx"
    book.save(path)
    row = read_extract(path).rows[0]
    assert row == {"rec_id": "17", "name": "王小明", "birth_date": "29221"}
    assert normalize_date(row["birth_date"]) == "19800101"


def test_a_damaged_xlsx_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(ExtractError, match=r"not a readable \.xlsx workbook"):
        read_extract(path)


@pytest.mark.parametrize("suffix", [".tsv", ".txt", ".csv"])
def test_tab_separated_extracts(tmp_path, suffix):
    path = tmp_path / f"extract{suffix}"
    path.write_text("\n".join("\t".join(r) for r in [HEADER, *ROWS]) + "\n", encoding="utf-8")
    extract = read_extract(path)
    assert extract.rows == EXPECTED and extract.encoding == "utf-8, tab-separated"


def test_a_comma_file_with_a_tab_inside_a_value_stays_comma_separated(tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("rec_id,name\nr1,王\t小明\n", encoding="utf-8")
    assert read_extract(path).rows == [{"rec_id": "r1", "name": "王\t小明"}]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark(tmp_path, encoding):
    text = "\r\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\r\n"
    raw = text.encode(encoding)
    if encoding != "utf-16":  # the -le/-be codecs write no BOM; Excel's "Unicode text" has one
        raw = ("\ufeff" + text).encode(encoding)
    path = tmp_path / "extract.csv"
    path.write_bytes(raw)
    extract = read_extract(path)
    assert extract.rows == EXPECTED and extract.encoding == "utf-16"


def test_utf16_tab_separated_as_excel_saves_unicode_text(tmp_path):
    path = tmp_path / "extract.txt"
    path.write_bytes("\r\n".join("\t".join(r) for r in [HEADER, *ROWS]).encode("utf-16"))
    extract = read_extract(path)
    assert extract.rows == EXPECTED and extract.encoding == "utf-16, tab-separated"


@pytest.mark.parametrize(
    "written, expected",
    [
        ("一九八〇年一月二日", "19800102"),
        ("二〇〇五年十二月三十一日", "20051231"),
        ("一九九九年十月十日", "19991010"),
        ("二零一二年三月十五号", "20120315"),
        ("一九八〇年二月二十九日", "19800229"),
        ("一九七八年十一月二十日", "19781120"),
        ("二○○○年一月一日", "20000101"),  # ○ (U+25CB), as often typed for 〇
    ],
)
def test_dates_in_chinese_numerals(written, expected):
    assert normalize_date(written, today=date(2026, 1, 1)) == expected


@pytest.mark.parametrize(
    "written, reason",
    [
        ("一九八〇年二月三十日", "1980-02-30 does not exist"),
        ("一九八〇年十三月一日", "1980-13-01 does not exist"),
        ("一九八〇年一月四十日", "1980-01-40 does not exist"),
        ("一九八〇年一月十十日", "not a recognised date"),
        ("一九八年一月二日", "not a recognised date"),
        ("二〇九九年一月一日", "in the future"),
    ],
)
def test_malformed_chinese_numeral_dates_are_refused(written, reason):
    with pytest.raises(InvalidField, match=re.escape(reason)):
        normalize_date(written, today=date(2026, 1, 1))


@pytest.mark.parametrize(
    "serial, expected",
    [
        ("29221", "19800101"),
        ("38717", "20051231"),
        ("10000", "19270518"),
        ("45000", "20230315"),
        ("29221.0", "19800101"),
    ],
)
def test_excel_serial_dates(serial, expected):
    assert normalize_date(serial, today=date(2026, 1, 1)) == expected


@pytest.mark.parametrize(
    "written, reason",
    [
        ("1980", "not a recognised date"),  # a year, not serial 1980 (1905-06-02)
        ("9999", "not a recognised date"),
        ("73051", "not a recognised date"),  # past 2099-12-31
        ("99999", "not a recognised date"),
        ("29221.5", "not a recognised date"),  # a time of day: not a birth date
        ("46100", "in the future"),  # 2026-03-18, after "today"
    ],
)
def test_implausible_excel_serials_are_refused(written, reason):
    with pytest.raises(InvalidField, match=re.escape(reason)):
        normalize_date(written, today=date(2026, 1, 1))


def test_a_chinese_numeral_birth_date_encodes_as_the_arabic_one():
    pipeline = RecordPipeline(LinkageSchema.default_chinese(), b"k" * 32, 1)
    row = dict(EXPECTED[0])
    arabic, _ = pipeline.encode_person(row)
    arabic_serial, _ = pipeline.encode_person({**row, "birth_date": "40983"})
    chinese, _ = pipeline.encode_person({**row, "birth_date": "二〇一二年三月十五日"})
    assert arabic == chinese == arabic_serial


def test_allow_unknown_columns_refuses_to_drop_a_misnamed_id_number_column(tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("rec_id,name,身份证,birth_date\nr1,王小明,320102201203150118,2012-03-15\n", encoding="utf-8")
    with pytest.raises(ExtractError, match=r"no column maps to id_number.*'身份证'"):
        read_extract(path, allow_unknown=True)
    mapping = ColumnMapping({"身份证": "id_number"})
    assert read_extract(path, mapping=mapping, allow_unknown=True).rows[0]["id_number"] == "320102201203150118"


def test_chinese_mapping_keys_must_be_quoted_in_toml(tmp_path):
    path = tmp_path / "columns.toml"
    path.write_text('[columns]\n学籍号 = "rec_id"\n', encoding="utf-8")
    with pytest.raises(ExtractError, match=r"--mapping.*not valid TOML.*quote Chinese header names"):
        ColumnMapping.load(path)
    path.write_text('ignore = ["班级"]\n\n[columns]\n"学籍号" = "rec_id"\n', encoding="utf-8")
    mapping = ColumnMapping.load(path)
    assert mapping.field_for("学籍号") == "rec_id" and mapping.field_for("班级") is None


def test_a_key_after_the_columns_table_is_named(tmp_path):
    path = tmp_path / "columns.toml"
    path.write_text('[columns]\n"学籍号" = "rec_id"\nignore = ["班级"]\n', encoding="utf-8")
    with pytest.raises(ExtractError, match="'columns' must map header names to field names"):
        ColumnMapping.load(path)


def test_aidlink_encode_reads_an_xlsx_extract_as_its_csv_twin(tmp_path, capsys):
    from aidlink.cli.main import main
    from aidlink.keys.secret_store import SecretStore

    SecretStore(tmp_path / "custody", unprotected=True).rotate()
    book = Workbook()
    book.active.append(HEADER)
    for row in ROWS:
        book.active.append([*row[:3], date.fromisoformat(row[3]), row[4]])
    book.save(tmp_path / "extract.xlsx")
    (tmp_path / "extract.csv").write_text("\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\n", encoding="utf-8")
    secret = ["--secret-file", str(tmp_path / "custody" / "v000001.json")]
    for name in ("xlsx", "csv"):
        assert main(["encode", str(tmp_path / f"extract.{name}"), "-o", str(tmp_path / f"{name}.json"), *secret]) == 0
    assert "encoded 2 of 2 rows (xlsx)" in capsys.readouterr().err
    assert (tmp_path / "xlsx.json").read_text() == (tmp_path / "csv.json").read_text()


def test_an_old_xls_workbook_is_named_as_such(tmp_path):
    path = tmp_path / "extract.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    with pytest.raises(ExtractError, match=r"old Excel \.xls workbook: save it as \.xlsx"):
        read_extract(path)


def test_a_mapping_to_a_field_that_does_not_exist_names_both(tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("学籍号,姓名\ns1,王小明\n", encoding="utf-8")
    with pytest.raises(ExtractError, match=r"unknown column\(s\) '学籍号' \(mapped to 'recid'\)"):
        read_extract(path, mapping=ColumnMapping({"学籍号": "recid"}))
    with pytest.raises(ExtractError, match=r"the id column 'rec_id' is missing .*--id-column"):
        read_extract(path, mapping=ColumnMapping(ignore=frozenset({"学籍号"})))


def test_an_id_number_stored_as_an_excel_number_is_refused_with_its_cell(tmp_path):
    book = Workbook()
    book.active.append(["rec_id", "name", "身份证号"])
    book.active.append(["r1", "王小明", "320102201203150118"])
    book.active.append(["r2", "李晓红", 320102201407090000])  # what Excel keeps of a typed 18-digit ID
    path = tmp_path / "ids.xlsx"
    book.save(path)
    with pytest.raises(
        ExtractError, match=r"row 2, column 身份证号: 320102201407090000 is stored as a number.*as Text"
    ):
        read_extract(path)
