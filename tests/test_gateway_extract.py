"""Department extracts: encodings, column mapping, and bad input named clearly."""

from __future__ import annotations

import pytest

from aidlink.cli.downloads import read_table
from aidlink.cli.main import main
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.extract import ColumnMapping, ExtractError, decode, parse_extract, read_extract

HEADER = "rec_id,name,id_number,birth_date,sex\n"


def test_utf8_gbk_and_gb18030_files_are_read(tmp_path):
    text = HEADER + "R1,王丽,11010519491231002X,1949-12-31,女\n"
    for encoding, name in (("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("gbk", "gb18030"), ("gb18030", "gb18030")):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        extract = read_extract(path)
        assert extract.encoding == name and extract.rows[0]["name"] == "王丽"
    with pytest.raises(ExtractError, match="neither UTF-8 nor GBK"):
        decode(b"rec_id\n\xff\xff\xff")


def test_malformed_rows_are_reported_with_their_numbers_and_good_rows_kept():
    extract = parse_extract(
        HEADER + "R1,王丽,11010519491231002X,1949-12-31,女\nR2,李四\n\n"
        "R3,赵六,11010519491231002X,1949-12-31,女,extra\nR4,钱七,,1990-01-01,男\n"
    )
    assert [r["rec_id"] for r in extract.rows] == ["R1", "R4"]
    assert extract.row_numbers == [1, 5]
    assert extract.problems == [(2, "has 2 fields, the header has 5"), (4, "has 6 fields, the header has 5")]


def test_column_problems_are_named(tmp_path):
    with pytest.raises(ExtractError, match=r"unknown column\(s\) 'income'"):
        parse_extract("rec_id,name,income\nR1,王丽,3000\n")
    with pytest.raises(ExtractError, match="the id column 'rec_id' is missing"):
        parse_extract("name,id_number\n王丽,11010519491231002X\n")
    with pytest.raises(ExtractError, match="several columns map to name"):
        parse_extract("rec_id,姓名,name\nR1,王丽,王丽\n")
    with pytest.raises(ExtractError, match="empty"):
        parse_extract("")
    mapping_file = tmp_path / "m.toml"
    mapping_file.write_text('ignore = ["income"]\n[columns]\n"人员编号" = "rec_id"\n', encoding="utf-8")
    extract = parse_extract(
        "人员编号,姓名,公民身份号码,income\nR1,王丽,11010519491231002X,3000\n", mapping=ColumnMapping.load(mapping_file)
    )
    assert extract.rows == [{"rec_id": "R1", "name": "王丽", "id_number": "11010519491231002X"}]
    (tmp_path / "bad.toml").write_text("[columns]\nx = 1\n")
    with pytest.raises(ExtractError, match="'columns' must map header names"):
        ColumnMapping.load(tmp_path / "bad.toml")


def test_gateway_submit_and_compare_commands(tmp_path, capsys):
    from aidlink.gateway.synthetic.extracts import department_extract
    from aidlink.gateway.synthetic.population import SyntheticPopulation

    population = SyntheticPopulation.generate(1200, seed=8)
    mca, edu = (department_extract(population, d, seed=8) for d in ("mca", "edu"))
    mca.write_csv(tmp_path / "mca.csv")
    edu.write_csv(tmp_path / "edu.csv", encoding="gb18030")
    with LoopbackDeployment(tmp_path / "deploy", departments=("mca", "edu")) as d:
        assert (
            main(
                [
                    "gateway",
                    "submit",
                    str(tmp_path / "mca.csv"),
                    "--gateway",
                    d.nodes["mca"].server.address,
                    "--dataset",
                    "low-income",
                    "--catalog-entry",
                    "mca.low-income",
                    "--attribute",
                    "category",
                    "--attribute",
                    "school_age",
                    "--allow-unknown-columns",
                ]
            )
            == 0
        )
        assert (
            main(
                [
                    "gateway",
                    "submit",
                    str(tmp_path / "edu.csv"),
                    "--gateway",
                    d.nodes["edu"].server.address,
                    "--dataset",
                    "students",
                    "--catalog-entry",
                    "edu.students",
                    "--allow-unknown-columns",
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert "mca/low-income v1:" in out and "edu/students v1:" in out
        assert (
            main(
                [
                    "gateway",
                    "compare",
                    "--gateway",
                    d.nodes["edu"].server.address,
                    "--my-dataset",
                    "students",
                    "--other",
                    "mca/low-income",
                    "--purpose",
                    "eligibility-check",
                    "-o",
                    str(tmp_path / "out.csv"),
                ]
            )
            == 0
        )
        assert "not legal data" in capsys.readouterr().out
        header, cells = read_table(tmp_path / "out.csv")  # fails unless it opens with the Art. 26 notice
        rows = [dict(zip(header, r)) for r in cells]
        assert rows and set(rows[0]) == {"record_id", "score", "category"}
        assert all(r["record_id"] in edu.truth for r in rows)
        assert (
            main(
                [
                    "gateway",
                    "compare",
                    "--gateway",
                    d.nodes["edu"].server.address,
                    "--my-dataset",
                    "students",
                    "--other",
                    "mca/low-income",
                    "--purpose",
                    "risk-monitoring",
                    "-o",
                    str(tmp_path / "no.csv"),
                ]
            )
            == 1
        )
        assert "PERMISSION_DENIED" in capsys.readouterr().err
        assert not list(tmp_path.glob("no.csv*"))  # a refused compare leaves no file, partial or whole
