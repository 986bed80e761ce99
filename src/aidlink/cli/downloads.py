"""Files a user downloads: result tables as CSV or XLSX, each opening with the Art. 26 notice.

A CSV starts with one line ``# <notice>`` before the header row, so spreadsheet users read it
first and programs skip it as a comment (``pandas.read_csv(..., comment="#")`` or
:func:`read_table`). An XLSX holds the notice in its first row, the header in the second (frozen
below it), and the notice again as the workbook's description.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aidlink.result_notice import NOTICE

FORMATS = ("csv", "xlsx")
COMMENT = "# "


def table_format(path: Path, fmt: str | None = None) -> str:
    fmt = fmt or ("xlsx" if Path(path).suffix.lower() == ".xlsx" else "csv")
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str | None = None) -> None:
    """Writes rows as CSV (UTF-8 with BOM, so Excel shows Chinese) or XLSX (by suffix or `fmt`)."""
    fmt = table_format(path, fmt)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8-sig") as fh:
            fh.write(f"{COMMENT}{NOTICE}\r\n")
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        return
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "aidlink"
    sheet.append([NOTICE])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    sheet.freeze_panes = "A3"
    book.properties.description = NOTICE
    book.save(path)


def read_table(path: Path) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a file :func:`write_table` wrote; fails if the notice is missing."""
    if table_format(path) == "csv":
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first = fh.readline().rstrip("\r\n")
            if first != f"{COMMENT}{NOTICE}":
                raise ValueError(f"{path}: does not open with the Art. 26 notice")
            header, *rows = list(csv.reader(fh))
        return header, rows
    from openpyxl import load_workbook

    cells = list(load_workbook(path).active.iter_rows(values_only=True))
    if not cells or cells[0][0] != NOTICE:
        raise ValueError(f"{path}: does not open with the Art. 26 notice")
    return [str(c) for c in cells[1]], [list(r) for r in cells[2:]]
