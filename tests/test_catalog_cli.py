"""`aidlink catalog list|show|diff|sign|publish` on a matcher data directory."""

from __future__ import annotations

import json
from importlib import resources

from aidlink.cli.main import main
from aidlink.keys.authority import CertificateAuthority
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.catalog_store import CatalogStore


def test_publish_list_show_diff(tmp_path, capsys):
    data = tmp_path / "matcher"
    data.mkdir()
    CatalogStore.open(data / "catalog.sqlite", seed=Catalog.load()).close()  # the matcher's bootstrap
    ca = CertificateAuthority.create(tmp_path / "ca")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "crl.pem").write_bytes(ca.crl_pem())
    nodes = {}
    for dept in ("mca", "edu"):
        nodes[dept] = tmp_path / dept
        ca.issue_node(dept, level="province", division_code="320000").write(nodes[dept], "node")
    trust = ["--ca-cert", str(tmp_path / "ca.crt"), "--crl", str(tmp_path / "crl.pem")]

    def publish(file, *departments, note=()):
        sigs = []
        for dept in departments:
            out = tmp_path / f"{file.stem}.{dept}.sig"
            assert main(["catalog", "sign", str(file), "--node-dir", str(nodes[dept]), "--out", str(out)]) == 0
            sigs += ["--signature", str(out)]
        capsys.readouterr()
        return main(["catalog", "publish", str(file), "--data-dir", str(data), *trust, *sigs, *note])

    text = resources.files("aidlink.matcher.data").joinpath("catalog.toml").read_text("utf-8")
    default = tmp_path / "catalog-2023.toml"
    default.write_text(text, "utf-8")
    assert publish(default, "mca") == 0
    assert "2023.1 is already published with this content" in capsys.readouterr().out

    edited = tmp_path / "edited.toml"
    edited.write_text(text.replace('update_cycle = "per school term"', 'update_cycle = "monthly"'), "utf-8")
    assert publish(edited, "mca", "edu") == 1
    err = capsys.readouterr().err
    assert "2023.1 is published and cannot be changed" in err and "'per school term' -> 'monthly'" in err

    new = tmp_path / "2024.toml"
    new.write_text(edited.read_text("utf-8").replace('version = "2023.1"', 'version = "2024.1"'), "utf-8")
    assert publish(new, "edu") == 1
    assert "lacks the signature of mca" in capsys.readouterr().err
    assert publish(new, "edu", "mca", note=["--note", "term data monthly"]) == 0
    out = capsys.readouterr().out
    assert "published catalog version 2024.1 (#2" in out and "~ edu.students" in out and "signed by edu, mca" in out

    assert main(["catalog", "list", "--data-dir", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l.split("\t")[0] for l in lines] == ["2023.1", "2024.1"] and "term data monthly" in lines[1]
    assert main(["catalog", "show", "2023.1", "--entry", "edu.students", "--data-dir", str(data)]) == 0
    shown = capsys.readouterr().out
    assert "update cycle: per school term" in shown and "information items: school_stage" in shown
    assert "school_stage: one of preschool, primary, junior_secondary, senior_secondary, higher" in shown
    assert main(["catalog", "show", "--format", "json", "--data-dir", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "2024.1"
    assert main(["catalog", "diff", "2023.1", "2024.1", "--data-dir", str(data)]) == 0
    assert "update_cycle: 'per school term' -> 'monthly'" in capsys.readouterr().out
    assert main(["catalog", "diff", "2023.1", "9", "--data-dir", str(data)]) == 1
    assert "'9' is not published" in capsys.readouterr().err
    assert main(["catalog", "verify", "--data-dir", str(data), *trust]) == 0
    assert "2024.1: signed by edu" in capsys.readouterr().out
