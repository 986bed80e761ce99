"""Every CLI failure a user can cause is ONE line on stderr naming the file, field or flag and
what to do, with a non-zero exit: never a traceback.

Each case runs the real ``aidlink`` entry point (``aidlink.cli.main.main``) on real files: a
custodian CA, node certificates and sealed secrets, extracts and mapping files. `gateway serve`
runs in a subprocess (if a check failed to refuse, it would start serving; the timeout ends it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aidlink.cli.main import main
from aidlink.gateway.node_setup import init_node_directory
from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.linkage_secret import LinkageSecret
from tests.support.issued_node_files import issue_node_files

EXTRACT = "rec_id,name,id_number,birth_date\nr1,王小明,320102201203150118,2012-03-15\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Issued files for edu and mca, an expired edu certificate, node directories, extracts, mappings."""
    root = tmp_path_factory.mktemp("world")
    ca = CertificateAuthority.create(root / "ca")
    secret = LinkageSecret.generate(1)
    issued = {d: issue_node_files(ca, secret, root / "issued" / d, d) for d in ("edu", "mca")}
    expired = issue_node_files(
        ca,
        secret,
        root / "issued" / "expired",
        "edu",
        not_before=datetime.now(UTC) - timedelta(days=30),
        validity_days=2,
    )
    edu = root / "nodes" / "edu"
    init_node_directory("edu", edu, issued["edu"], matcher="127.0.0.1:1")
    for name, cert, key in (
        ("mca-cert", issued["mca"].cert, issued["mca"].key),  # mca's node directory, used as edu's
        ("wrong-key", issued["edu"].cert, issued["mca"].key),
        ("expired", expired.cert, expired.key),
    ):
        shutil.copytree(edu, root / "nodes" / name)
        shutil.copy(cert, root / "nodes" / name / "node.crt")
        shutil.copy(key, root / "nodes" / name / "node.key")
    (root / "nodes" / "empty").mkdir()
    (root / "in.csv").write_text(EXTRACT, encoding="utf-8")
    (root / "misnamed.csv").write_text(EXTRACT.replace("id_number", "身份证"), encoding="utf-8")
    (root / "bad.toml").write_text('[columns]\n学籍号 = "rec_id"\n', encoding="utf-8")
    (root / "matcher.crt").write_bytes(issued["mca"].cert.read_bytes())  # any certificate; never reached
    return root


SECRET = ["--secret-file", "nodes/edu/linkage-secret.sealed", "--node-key", "nodes/edu/node.key"]
SUBMIT = ["gateway", "submit", "--node-dir", "nodes/edu", "--dataset", "d", "--catalog-entry", "edu.students"]
EXPORT = ["gateway", "export-bundle", "--department", "edu", "--matcher-cert", "matcher.crt"]
EXPORT += ["--dataset", "d", "--catalog-entry", "edu.students", "-o", "out.bundle"]


def init(**override: str) -> list[str]:
    files = {
        "--ca": "issued/edu/ca.crt",
        "--cert": "issued/edu/edu-320000.crt",
        "--key": "issued/edu/edu-320000.key",
        "--secret": "issued/edu/linkage-secret.sealed",
        "--crl": "issued/edu/crl.pem",
        **override,
    }
    argv = ["node", "init", "--department", "edu", "--node-dir", "new-node", "--matcher", "127.0.0.1:50051"]
    for flag, value in files.items():
        argv += [flag, value]
    return argv


# (case, argv relative to the world directory, what the line must name)
CASES = [
    (
        "encode: missing secret file",
        ["encode", "in.csv", "-o", "o.json", "--secret-file", "nope.sealed"],
        "nope.sealed",
    ),
    (
        "encode: sealed secret without the node key",
        ["encode", "in.csv", "-o", "o.json", "--secret-file", "nodes/edu/linkage-secret.sealed"],
        "give this node's private key",
    ),
    (
        "encode: node key of another node",
        ["encode", "in.csv", "-o", "o.json", *SECRET[:2], "--node-key", "issued/mca/mca-320000.key"],
        "open it with the key of the node it was sealed to",
    ),
    ("encode: missing schema", ["encode", "in.csv", "-o", "o.json", *SECRET, "--schema", "no.json"], "no.json"),
    ("encode: schema not JSON", ["encode", "in.csv", "-o", "o.json", *SECRET, "--schema", "bad.toml"], "bad.toml"),
    ("serve: bad TOML settings", ["gateway", "serve", "--config", "bad.toml"], "bad.toml"),
    ("encode: missing input", ["encode", "missing.csv", "-o", "o.json", *SECRET], "missing.csv"),
    ("encode: input is a directory", ["encode", "nodes", "-o", "o.json", *SECRET], "nodes"),
    ("encode: missing mapping", ["encode", "in.csv", "-o", "o.json", *SECRET, "--mapping", "no.toml"], "no.toml"),
    ("encode: bad TOML mapping", ["encode", "in.csv", "-o", "o.json", *SECRET, "--mapping", "bad.toml"], "bad.toml"),
    (
        "encode: --allow-unknown-columns would drop the ID column",
        ["encode", "misnamed.csv", "-o", "o.json", *SECRET, "--allow-unknown-columns"],
        "id_number",
    ),
    ("submit: missing input", [*SUBMIT, "missing.csv"], "missing.csv"),
    ("submit: bad TOML mapping", [*SUBMIT, "in.csv", "--mapping", "bad.toml"], "bad.toml"),
    (
        "submit: --allow-unknown-columns would drop the ID column",
        [*SUBMIT, "misnamed.csv", "--allow-unknown-columns"],
        "身份证",
    ),
    ("submit: the node is not running", [*SUBMIT, "in.csv"], "nodes/edu/state/node.sock"),
    (
        "compare: the node is not running",
        ["gateway", "compare", "--node-dir", "nodes/edu", "--my-dataset", "d", "--other", "mca/low-income"]
        + ["--purpose", "eligibility-check", "-o", "out.csv"],
        "nodes/edu/state/node.sock",
    ),
    ("export-bundle: missing input", [*EXPORT, "--node-dir", "nodes/edu", "missing.csv"], "missing.csv"),
    ("export-bundle: cert of another department", [*EXPORT, "--node-dir", "nodes/mca-cert", "in.csv"], "not of edu"),
    ("export-bundle: key does not match", [*EXPORT, "--node-dir", "nodes/wrong-key", "in.csv"], "node.key"),
    ("export-bundle: missing node files", [*EXPORT, "--node-dir", "nodes/empty", "in.csv"], "nodes/empty/ca.crt"),
    (
        "export-bundle: missing matcher cert",
        [*EXPORT[:5], "no.crt", *EXPORT[6:], "--node-dir", "nodes/edu", "in.csv"],
        "no.crt",
    ),
    (
        "export-bundle: matcher cert is not a certificate",
        [*EXPORT[:5], "in.csv", *EXPORT[6:], "--node-dir", "nodes/edu", "in.csv"],
        "--matcher-cert in.csv: not an X.509 certificate",
    ),
    (
        "import-results: missing bundle",
        ["gateway", "import-results", "no.bundle", "--node-dir", "nodes/edu", "--output-dir", "results"],
        "no.bundle",
    ),
    (
        "import-results: not a bundle",
        ["gateway", "import-results", "in.csv", "--node-dir", "nodes/edu", "--output-dir", "results"],
        "not an aidlink bundle",
    ),
    ("node init: missing secret", init(**{"--secret": "no.sealed"}), "no.sealed"),
    ("node init: neither --issued nor files", init()[:8], "--issued DIR"),
    ("node init: --issued is not a directory", [*init()[:8], "--issued", "in.csv"], "--issued in.csv"),
    ("node init: --issued without a certificate", [*init()[:8], "--issued", "nodes"], "(*.crt), found none"),
    ("node init: missing certificate", init(**{"--cert": "no.crt"}), "--cert"),
    ("node init: key does not match", init(**{"--key": "issued/mca/mca-320000.key"}), "mca-320000.key"),
    ("node init: cert of another department", init(**{"--cert": "issued/mca/mca-320000.crt"}), "not of edu"),
    ("node init: expired cert", init(**{"--cert": "issued/expired/edu-320000.crt"}), "expired at"),
    (
        "node init: secret sealed to another",
        init(**{"--secret": "issued/mca/linkage-secret.sealed"}),
        "issued/mca/linkage-secret.sealed: sealed linkage secret version 1: sealed linkage-secret is for another",
    ),
    ("node init: missing secret says which flag", init(**{"--secret": "no.sealed"}), "--secret"),
]


@pytest.mark.parametrize("case, argv, named", CASES, ids=[c[0] for c in CASES])
def test_one_line_naming_what_is_wrong(world, monkeypatch, capsys, case, argv, named):
    monkeypatch.chdir(world)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse-level errors (settings files) exit through the parser
        code = exc.code
    err = capsys.readouterr().err
    assert code != 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aidlink"), err
    assert named in lines[0], err


SERVE_CASES = [
    ("cert of another department", "mca-cert", "is the node certificate of mca"),
    ("key does not match the cert", "wrong-key", "is not the private key of"),
    ("expired cert", "expired", "expired at"),
    ("files missing", "empty", "aidlink node init"),
]


@pytest.mark.parametrize("case, node_dir, named", SERVE_CASES, ids=[c[0] for c in SERVE_CASES])
def test_gateway_serve_refuses_at_start_up(world, case, node_dir, named):
    done = subprocess.run(
        [sys.executable, "-m", "aidlink.cli.main", "gateway", "serve", "--department", "edu"]
        + ["--node-dir", f"nodes/{node_dir}", "--matcher", "127.0.0.1:1"],
        cwd=world,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("aidlink gateway serve: ") and named in lines[0] and f"nodes/{node_dir}" in lines[0]
