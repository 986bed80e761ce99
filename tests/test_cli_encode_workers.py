"""`aidlink encode --workers 2` writes exactly what one process writes, and names the same bad rows."""

from __future__ import annotations

import json

from aidlink.cli.main import main
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.keys.secret_store import SecretStore


def test_two_workers_give_the_same_file_and_the_same_row_problems(tmp_path, capsys) -> None:
    population = SyntheticPopulation.generate(5600, seed=31)
    extract = department_extract(population, "nhsa", seed=31)
    assert len(extract.rows) > 5000  # more than one chunk, so the worker pool is used
    extract.rows[4700]["id_number"] = "12345"
    extract.rows[4800]["name"] = "王3丽"
    extract.write_csv(tmp_path / "in.csv")
    SecretStore(tmp_path / "custody", unprotected=True).rotate()
    outputs = {}
    for workers in ("1", "2"):
        code = main(
            [
                "encode",
                str(tmp_path / "in.csv"),
                "--output",
                str(tmp_path / f"out-{workers}.json"),
                "--secret-file",
                str(tmp_path / "custody" / "v000001.json"),
                "--allow-unknown-columns",
                "--workers",
                workers,
            ]
        )
        assert code == 0
        err = capsys.readouterr().err.replace(f"out-{workers}.json", "out.json")
        outputs[workers] = ((tmp_path / f"out-{workers}.json").read_text(), err)
    assert outputs["1"] == outputs["2"]
    data, err = json.loads(outputs["2"][0]), outputs["2"][1]
    assert len(data["clks"]) == len(data["ids"]) > 5000
    assert extract.rows[4700]["rec_id"] not in data["ids"] and extract.rows[4800]["rec_id"] not in data["ids"]
    assert "row 4701: id_number: wrong length: 5 characters" in err and "(value '12345')" in err
    assert "row 4801: name: contains digits (3) (value '王3丽')" in err


def test_workers_must_be_positive(tmp_path, capsys) -> None:
    code = main(
        ["encode", str(tmp_path / "x.csv"), "-o", str(tmp_path / "o.json"), "--secret-file", "s", "--workers", "0"]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == "aidlink encode: --workers must be at least 1, got 0"
