"""`aidlink encode` and `aidlink match` on files, checked against anonlink."""

from __future__ import annotations

import base64
import csv
import json
from importlib import resources

import numpy as np
import pytest

from aidlink.bench.anonlink_compat import import_anonlink
from aidlink.cli.main import main
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.keys.secret_store import SecretStore


def custody_secret_file(directory):
    """Linkage secret version 1 as the custodian's (unprotected) store keeps it: a file --secret-file accepts."""
    SecretStore(directory, unprotected=True).rotate()
    return directory / "v000001.json"


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    population = SyntheticPopulation.generate(3000, seed=21)
    mca = department_extract(population, "mca", seed=21)
    nhsa = department_extract(population, "nhsa", seed=21)
    mca.write_csv(root / "mca.csv", encoding="gb18030")
    nhsa.write_csv(root / "nhsa.csv")
    custody_secret_file(root / "custody").rename(root / "secret")
    return root, mca, nhsa


def encode(root, name, capsys, schema=None):
    code = main(
        [
            "encode",
            str(root / f"{name}.csv"),
            "--output",
            str(root / f"{name}.json"),
            "--secret-file",
            str(root / "secret"),
            "--allow-unknown-columns",
            *(["--schema", str(schema)] if schema else []),
        ]
    )
    return code, capsys.readouterr().err


def test_encode_reads_gbk_and_reports_bad_rows(extracts, capsys):
    root, mca, _ = extracts
    code, err = encode(root, "mca", capsys)
    assert code == 0
    data = json.loads((root / "mca.json").read_text())
    assert data["format"] == "aidlink-encodings/1" and data["encoding"]["bits"] == 1024
    assert len(data["ids"]) == len(data["clks"]) > 0.95 * len(mca.rows)
    assert "(gb18030)" in err
    rejected = len(mca.rows) - len(data["ids"])
    assert err.count("row ") >= rejected  # each bad row is named with its reason
    assert all(len(base64.b64decode(c)) == 128 for c in data["clks"][:50])


def test_encode_refuses_unknown_columns_without_mapping(extracts, capsys):
    root, _, _ = extracts
    code = main(
        ["encode", str(root / "mca.csv"), "--output", str(root / "x.json"), "--secret-file", str(root / "secret")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown column(s) 'category', 'dispersed'" in err and "column mapping" in err
    assert not (root / "x.json").exists()


def test_encode_with_a_mapping_file(tmp_path, capsys):
    (tmp_path / "in.csv").write_text(
        "编号,姓名,公民身份号码,出生日期,性别\nA1,王丽,11010519491231002X,1949年12月31日,女\n"
        "A2,李四,123,1990-01-01,男\n",
        encoding="utf-8",
    )
    (tmp_path / "map.toml").write_text('[columns]\n"编号" = "rec_id"\n', encoding="utf-8")
    custody_secret_file(tmp_path / "custody").rename(tmp_path / "secret")
    assert (
        main(
            [
                "encode",
                str(tmp_path / "in.csv"),
                "-o",
                str(tmp_path / "out.json"),
                "--secret-file",
                str(tmp_path / "secret"),
                "--mapping",
                str(tmp_path / "map.toml"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert json.loads((tmp_path / "out.json").read_text())["ids"] == ["A1"]
    assert "row 2: id_number" in err


def _clkhash_json(path, encodings):
    path.write_text(json.dumps({"clks": [base64.b64encode(e).decode() for e in encodings]}))


def _anonlink_reference(a, b, threshold):
    anonlink = import_anonlink()
    from bitarray import bitarray

    def bits(raw):
        ba = bitarray(endian="big")
        ba.frombytes(raw)
        return ba

    candidates = anonlink.candidate_generation.find_candidate_pairs(
        [[bits(x) for x in a], [bits(x) for x in b]], anonlink.similarities.dice_coefficient_accelerated, threshold
    )
    sims, _, (rec0, rec1) = candidates
    pairs = [(str(i), str(j), s) for s, i, j in zip(sims, rec0, rec1)]
    links = anonlink.solving.greedy_solve(candidates)
    link_pairs = {tuple(sorted(group)) for group in links}
    return pairs, {(str(x[1]), str(y[1])) for x, y in link_pairs}


def test_match_all_pairs_equals_anonlink_candidates(extracts, tmp_path, capsys):
    root, _, _ = extracts
    # The clkhash-compatible v3 schema: whole-vector Dice, as anonlink computes it.
    v3 = resources.files("aidlink.gateway.encoding.schemas").joinpath("chinese-person-v3.json")
    assert encode(root, "mca", capsys, v3)[0] == 0 and encode(root, "nhsa", capsys, v3)[0] == 0
    a = [base64.b64decode(c) for c in json.loads((root / "mca.json").read_text())["clks"]]
    b = [base64.b64decode(c) for c in json.loads((root / "nhsa.json").read_text())["clks"]]
    rng = np.random.default_rng(1)
    noise = [bytes(rng.integers(0, 256, 128, dtype=np.uint8)) for _ in range(50)]
    a, b = a + noise[:25], b + noise[25:]
    _clkhash_json(tmp_path / "a.json", a)
    _clkhash_json(tmp_path / "b.json", b)
    expected_pairs, expected_links = _anonlink_reference(a, b, 0.7)
    assert (
        main(
            [
                "match",
                str(tmp_path / "a.json"),
                str(tmp_path / "b.json"),
                "--threshold",
                "0.7",
                "--all-pairs",
                "-o",
                str(tmp_path / "pairs.csv"),
            ]
        )
        == 0
    )
    with open(tmp_path / "pairs.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["a_id", "b_id", "score"]
    assert [(r[0], r[1], float(r[2])) for r in rows[1:]] == expected_pairs
    assert len(expected_pairs) > 100
    assert (
        main(
            [
                "match",
                str(tmp_path / "a.json"),
                str(tmp_path / "b.json"),
                "--threshold",
                "0.7",
                "-o",
                str(tmp_path / "links.csv"),
            ]
        )
        == 0
    )
    with open(tmp_path / "links.csv") as fh:
        links = {(r[0], r[1]) for r in list(csv.reader(fh))[1:]}
    assert links == expected_links
    assert len(links) < len(expected_pairs)


def test_match_ids_from_our_format(extracts, tmp_path, capsys):
    root, mca, nhsa = extracts
    encode(root, "mca", capsys)
    encode(root, "nhsa", capsys)
    assert (
        main(["match", str(root / "mca.json"), str(root / "nhsa.json"), "-t", "0.8", "-o", str(tmp_path / "links.csv")])
        == 0
    )
    with open(tmp_path / "links.csv") as fh:
        links = list(csv.DictReader(fh))
    correct = sum(mca.truth[r["a_id"]] == nhsa.truth[r["b_id"]] for r in links)
    assert links and correct >= 0.99 * len(links)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"clks": ["not base64!"]}', "encoding #0 is not valid base64"),
        ('{"clks": ["AAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAA=="]}', "encoding #1 has 16 bytes"),
        ('{"clks": ["AAAA"]}', "a multiple of 8"),
        ("[1, 2]", "expected a JSON object with a 'clks' list"),
        ('{"clks": ', "not a readable JSON encoding file"),
    ],
)
def test_match_refuses_malformed_files(tmp_path, capsys, content, message):
    (tmp_path / "bad.json").write_text(content)
    _clkhash_json(tmp_path / "ok.json", [bytes(8)])
    assert (
        main(
            ["match", str(tmp_path / "bad.json"), str(tmp_path / "ok.json"), "-t", "0.8", "-o", str(tmp_path / "o.csv")]
        )
        == 2
    )
    assert message in capsys.readouterr().err


def test_match_without_a_threshold_uses_the_schemas_calibrated_default(extracts, tmp_path, capsys):
    from aidlink.matcher.schema_policies import V2_CALIBRATED_THRESHOLD

    root, mca, nhsa = extracts
    encode(root, "mca", capsys)
    encode(root, "nhsa", capsys)
    out = tmp_path / "links.csv"
    assert main(["match", str(root / "mca.json"), str(root / "nhsa.json"), "-o", str(out)]) == 0
    assert f"at threshold {V2_CALIBRATED_THRESHOLD:g} (the schema's calibrated default)" in capsys.readouterr().err
    with open(out) as fh:
        links = list(csv.DictReader(fh))
    assert links and min(float(r["score"]) for r in links) >= V2_CALIBRATED_THRESHOLD
    correct = sum(mca.truth[r["a_id"]] == nhsa.truth[r["b_id"]] for r in links)
    assert correct >= 0.99 * len(links)


def test_match_refuses_files_of_two_schemas(extracts, tmp_path, capsys):
    root, _, _ = extracts
    v3 = resources.files("aidlink.gateway.encoding.schemas").joinpath("chinese-person-v3.json")
    encode(root, "mca", capsys)
    code, _ = encode(root, "nhsa", capsys, v3)
    assert code == 0
    assert main(["match", str(root / "mca.json"), str(root / "nhsa.json"), "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "encodings of different schemas are never compared" in err and "Traceback" not in err
