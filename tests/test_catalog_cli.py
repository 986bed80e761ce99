"""`aidlink catalog list|show|diff|publish` on a matcher data directory."""
from __future__ import annotations

from aidlink.cli.main import main


def test_publish_list_show_diff(tmp_path, capsys):
    data = tmp_path / "matcher"
    default = tmp_path / "catalog-2023.toml"
    from importlib import resources
    text = resources.files("aidlink.matcher.data").joinpath("catalog.toml").read_text("utf-8")
    default.write_text(text, "utf-8")
    assert main(["catalog", "publish", str(default), "--data-dir", str(data), "--approved-by", "mca"]) == 0
    assert "published catalog version 2023.1" in capsys.readouterr().out

    edited = tmp_path / "edited.toml"
    edited.write_text(text.replace('update_cycle = "per school term"', 'update_cycle = "monthly"'), "utf-8")
    assert main(["catalog", "publish", str(edited), "--data-dir", str(data), "--approved-by", "mca"]) == 1
    err = capsys.readouterr().err
    assert "2023.1 is published and cannot be changed" in err and "'per school term' -> 'monthly'" in err

    new = tmp_path / "2024.toml"
    new.write_text(edited.read_text("utf-8").replace('version = "2023.1"', 'version = "2024.1"'), "utf-8")
    assert main(["catalog", "publish", str(new), "--data-dir", str(data), "--approved-by", "edu"]) == 1
    assert "jointly with civil affairs" in capsys.readouterr().err
    assert main(["catalog", "publish", str(new), "--data-dir", str(data), "--approved-by", "edu",
                 "--approved-by", "mca", "--note", "term data monthly"]) == 0
    out = capsys.readouterr().out
    assert "published catalog version 2024.1 (#2" in out and "~ edu.students" in out

    assert main(["catalog", "list", "--data-dir", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l.split("\t")[0] for l in lines] == ["2023.1", "2024.1"] and "term data monthly" in lines[1]
    assert main(["catalog", "show", "2023.1", "--entry", "edu.students", "--data-dir", str(data)]) == 0
    shown = capsys.readouterr().out
    assert "update cycle: per school term" in shown and "information items: school_stage" in shown
    assert main(["catalog", "show", "--format", "json", "--data-dir", str(data)]) == 0
    import json
    assert json.loads(capsys.readouterr().out)["version"] == "2024.1"
    assert main(["catalog", "diff", "2023.1", "2024.1", "--data-dir", str(data)]) == 0
    assert "update_cycle: 'per school term' -> 'monthly'" in capsys.readouterr().out
    assert main(["catalog", "diff", "2023.1", "9", "--data-dir", str(data)]) == 1
    assert "'9' is not published" in capsys.readouterr().err
