"""Every file a user downloads opens with the Art. 26 notice, in CSV and XLSX alike."""

from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook

from aidlink.cli.downloads import read_table, write_table
from aidlink.result_notice import NOTICE

ROWS = [["EDU-1", "0.93", "低保"], ["EDU-2", "0.88", "特困"]]


def test_csv_opens_with_the_notice_and_keeps_its_table(tmp_path):
    path = tmp_path / "results.csv"
    write_table(path, ["record_id", "score", "category"], ROWS)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf# ")  # BOM, so Excel shows Chinese; then the notice
    with open(path, newline="", encoding="utf-8-sig") as fh:
        assert fh.readline().rstrip("\r\n") == f"# {NOTICE}"
        assert list(csv.reader(fh)) == [["record_id", "score", "category"], *ROWS]
    assert read_table(path) == (["record_id", "score", "category"], ROWS)


def test_xlsx_opens_with_the_notice_in_its_first_row(tmp_path):
    path = tmp_path / "results.xlsx"
    write_table(path, ["record_id", "score", "category"], ROWS)
    book = load_workbook(path)
    cells = list(book.active.iter_rows(values_only=True))
    assert cells[0][0] == NOTICE and cells[1] == ("record_id", "score", "category")
    assert book.properties.description == NOTICE and book.active.freeze_panes == "A3"
    assert read_table(path) == (["record_id", "score", "category"], ROWS)


def test_a_file_without_the_notice_is_not_read_as_a_download(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("record_id,score\nEDU-1,0.9\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Art. 26 notice"):
        read_table(path)


def test_unknown_format_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match="'ods'"):
        write_table(tmp_path / "x.ods", ["a"], [], fmt="ods")
