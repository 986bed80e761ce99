"""The offline round trip by command line: `aidlink gateway export-bundle` at the
department, `aidlink matcher import-bundle` at the (stopped) matcher, `aidlink gateway
import-results` back at the department; plus `aidlink catalog list --matcher` over mTLS."""

from __future__ import annotations

from aidlink.audit.store import SQLiteAuditStore
from aidlink.cli.downloads import read_table
from aidlink.cli.main import main
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.client import submit_rows
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.v1 import gateway_pb2


def test_offline_round_trip_by_command_line(tmp_path, capsys):
    population = SyntheticPopulation.generate(300, seed=21)
    extracts = {d: department_extract(population, d, seed=21) for d in ("mca", "edu")}
    students_csv = tmp_path / "students.csv"
    extracts["edu"].write_csv(students_csv)
    with LoopbackDeployment(tmp_path / "world", departments=("mca", "edu")) as d:
        submit_rows(
            d.nodes["mca"].stub,
            gateway_pb2.SubmitHeader(
                dataset="low-income",
                catalog_entry="mca.low-income",
                catalog_version="2023.1",
                attributes=["category", "dispersed", "school_age"],
            ),
            extracts["mca"].rows,
        )
        edu_dir = d.nodes["edu"].directory
        assert main(["catalog", "list", "--matcher", d.matcher.address, "--node-dir", str(edu_dir)]) == 0
        assert capsys.readouterr().out.startswith("2023.1\t#1")
        tls = d.root / "matcher" / "tls"
        data_dir, audit_key = d.matcher.config.data_dir, d.audit_key_path
    # The department's node is offline: its state directory is all it needs.
    bundle = tmp_path / "edu.bundle"
    assert (
        main(
            [
                "gateway",
                "export-bundle",
                str(students_csv),
                "--department",
                "edu",
                "--node-dir",
                str(edu_dir),
                "--matcher-cert",
                str(tls / "matcher.crt"),
                "--dataset",
                "students",
                "--catalog-entry",
                "edu.students",
                "--attribute",
                "school_stage",
                "--compare",
                "mca/low-income:eligibility-check",
                "--allow-unknown-columns",
                "-o",
                str(bundle),
            ]
        )
        == 0
    )
    assert "encrypted to the matcher" in capsys.readouterr().out
    result = tmp_path / "edu.result"
    args = [
        "matcher",
        "import-bundle",
        str(bundle),
        "--data-dir",
        str(data_dir),
        "--tls-dir",
        str(tls),
        "--audit-key",
        str(audit_key),
        "-o",
        str(result),
    ]
    assert main(args) == 0
    assert "from edu: edu/students v1" in capsys.readouterr().out
    assert main(args) == 1  # the same medium again
    assert "already imported" in capsys.readouterr().err
    out_dir = tmp_path / "results"
    assert (
        main(["gateway", "import-results", str(result), "--node-dir", str(edu_dir), "--output-dir", str(out_dir)]) == 0
    )
    assert "agreement art14-1a.mca-to-edu" in capsys.readouterr().out
    header, cells = read_table(out_dir / "comparison-1.csv")
    rows = [dict(zip(header, r)) for r in cells]
    assert rows and {r["record_id"] for r in rows} <= set(extracts["edu"].truth)
    store = SQLiteAuditStore(data_dir / "audit.sqlite", read_only=True)
    try:
        methods = [(r.entry.method, r.entry.outcome) for r in store.scan() if r.entry.method.startswith("offline/")]
    finally:
        store.close()
    assert methods == [
        ("offline/import-bundle", "allowed"),
        ("offline/compare", "allowed"),
        ("offline/import-bundle", "refused"),
    ]
