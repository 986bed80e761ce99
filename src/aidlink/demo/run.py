"""`aidlink demo`: the whole path on loopback with embedded defaults.

A matcher and the ten department nodes over mTLS with throwaway keys; synthetic
Chinese records; two Art. 14 exchanges; a refused call; dynamic monitoring
(warnings, a referral, feedback); a summary with where the audit log is."""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import grpc

from aidlink.gateway.match_batches import local_matches
from aidlink.v1 import common_pb2, gateway_pb2

# department: (dataset name, catalog entry, file encoding of its extract). Edu's export is GBK.
DATASETS = {
    "mca": ("low-income", "mca.low-income", "utf-8"),
    "edu": ("students", "edu.students", "gb18030"),
    "hrss": ("employment", "hrss.employment", "utf-8"),
    "housing": ("support", "housing.support", "utf-8"),
    "health": ("serious-illness", "health.serious-illness", "utf-8"),
    "mem": ("disaster", "mem.disaster", "utf-8"),
    "nhsa": ("medical", "nhsa.medical", "utf-8"),
    "rural": ("former-poor", "rural.former-poor", "utf-8"),
    "union": ("hardship-workers", "union.hardship-workers", "utf-8"),
    "cdpf": ("disability", "cdpf.disability", "utf-8"),
}
LOW_INCOME = {"dibao", "tekun", "bianyuan", "zhichu"}
CATEGORY_NAMES = {
    "dibao": "低保",
    "tekun": "特困",
    "bianyuan": "低保边缘",
    "zhichu": "支出型困难",
    "linshi": "临时救助",
    "monitored": "监测对象",
}


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole system on loopback with synthetic data")
    p.add_argument("--workdir", type=Path, help="where keys, data and the audit log go (default: a new temp dir)")
    p.add_argument("--persons", type=int, default=20000, help="size of the synthetic population")
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument(
        "--keep-keys",
        action="store_true",
        help="keep the demo's private keys (unencrypted, made for this run) instead of deleting them at the end",
    )
    p.set_defaults(func=run)


def delete_private_keys(workdir: Path) -> list[Path]:
    """Remove every private key the demo wrote under `workdir` (CA, matcher, nodes, systems, audit
    signing key): they are unencrypted, made for one run, and must not outlive it. Certificates,
    public keys, sealed secrets, data and the audit log stay for inspection."""
    removed = []
    # Only where the demo writes keys: a --workdir may hold the user's own files beside them.
    for folder in ("custody", "nodes", "systems", "matcher"):
        for path in sorted((workdir / folder).rglob("*.key")):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def _wait_for_cosignature(deployment, audit_log, timeout: float = 15.0) -> str:
    """The witness's cosignature of the newest checkpoint (the matcher submits it in the background)."""
    latest = audit_log.latest_checkpoint()
    deadline = time.monotonic() + timeout
    while latest is not None and time.monotonic() < deadline:
        for cosignature in audit_log.store.cosignatures():
            if cosignature.checkpoint == latest.number:
                return f"cosigned by witness {cosignature.witness} (C2SP tlog-witness), stored beside the checkpoint"
        time.sleep(0.05)
    return "not yet cosigned by the witness (see docs/witness.md)"


def _compare(stub, mine, other, purpose):
    events = list(
        stub.CompareDataset(gateway_pb2.GatewayCompareRequest(my_dataset=mine, other_dataset=other, purpose=purpose))
    )
    return (
        [m for e in events for m in local_matches(e)],
        next(e.summary for e in events if e.WhichOneof("event") == "summary"),
    )


def _write_matches(path: Path, matches) -> None:
    from aidlink.cli.downloads import write_table  # with the Art. 26 notice, like every download

    names = sorted({k for m in matches for k in m.attributes})
    write_table(
        path,
        ["record_id", "score", *names],
        [[m.record_id, f"{m.score:.4f}", *(m.attributes.get(n, "") for n in names)] for m in matches],
    )


def _quality(found: set[str], expected: set[str]) -> str:
    tp = len(found & expected)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(expected) if expected else 1.0
    return f"precision {precision:.3f}, recall {recall:.3f} against the generator's ground truth"


def run(args) -> int:
    from aidlink.demo.loopback import LoopbackDeployment
    from aidlink.demo.monitoring import run_monitoring_demo
    from aidlink.gateway.client import submit_rows
    from aidlink.gateway.extract import read_extract
    from aidlink.gateway.pipeline import SCHOOL_AGE
    from aidlink.gateway.synthetic.extracts import department_extract
    from aidlink.gateway.synthetic.population import SyntheticPopulation
    from aidlink.matcher.catalog import Catalog

    started = time.perf_counter()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aidlink-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results"
    out.mkdir(exist_ok=True)
    say = print
    say(f"aidlink demo — working directory {workdir}")

    population = SyntheticPopulation.generate(args.persons, seed=args.seed)
    extracts, files = {}, {}
    for dept, (_, _, encoding) in DATASETS.items():
        extracts[dept] = department_extract(population, dept, seed=args.seed)
        files[dept] = workdir / "extracts" / f"{dept}.csv"
        files[dept].parent.mkdir(exist_ok=True)
        extracts[dept].write_csv(files[dept], encoding=encoding)
    say(
        f"generated {len(population.persons)} persons in {len(population.households)} households; "
        f"department extracts written to {files['mca'].parent}"
    )

    with LoopbackDeployment(workdir, departments=tuple(DATASETS), witness=True) as deployment:
        say(
            f"matcher on {deployment.matcher.address} (mTLS); nodes (mTLS, each admitting only its own "
            "department's systems; and a private Unix socket): "
            + ", ".join(f"{d} {n.server.tcp_address}" for d, n in deployment.nodes.items())
        )
        say("\n1. Upload: each node reads its extract, normalizes, encodes, uploads encodings only")
        catalog = Catalog.load()
        for dept, (dataset, entry, _) in DATASETS.items():
            attributes = list(catalog.entry(entry, catalog.version).attributes)
            extract = read_extract(files[dept], attributes=tuple(attributes), allow_unknown=True)
            header = gateway_pb2.SubmitHeader(
                dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attributes
            )
            summary = submit_rows(deployment.nodes[dept].stub, header, extract.rows)
            say(
                f"   {dept:7} {summary.dataset:24} {summary.uploaded:6} of {summary.rows:6} rows uploaded "
                f"({extract.encoding} file); {summary.rows - summary.uploaded} refused and "
                f"{summary.rows_flagged} flagged, each with its reason"
            )

        say("\n2. Exchange Art. 14(1): edu learns which of ITS students are in 低保/特困/边缘/支出型 households")
        edu_matches, s1 = _compare(
            deployment.nodes["edu"].stub, "students", "mca/low-income", common_pb2.ELIGIBILITY_CHECK
        )
        _write_matches(out / "edu-students-in-low-income-households.csv", edu_matches)
        by_category = Counter(m.attributes.get("category", "") for m in edu_matches)
        say(
            f"   {s1.matches} of {s1.my_records} students matched under agreement {s1.agreement}: "
            + ", ".join(f"{CATEGORY_NAMES.get(c, c)} {n}" for c, n in by_category.most_common())
        )
        mca_category = {extracts["mca"].truth[r["rec_id"]]: r["category"] for r in extracts["mca"].rows}
        today = date.today()
        expected = {
            rid
            for rid, pid in extracts["edu"].truth.items()
            if mca_category.get(pid) in LOW_INCOME and population.person(pid).age_on(today) in SCHOOL_AGE
        }
        say(f"   {_quality({m.record_id for m in edu_matches}, expected)}")

        say("\n3. Exchange Art. 14(4): nhsa returns serious-illness / high-cost flags for mca's persons")
        mca_matches, s2 = _compare(
            deployment.nodes["mca"].stub, "low-income", "nhsa/medical", common_pb2.POLICY_DELIVERY_CHECK
        )
        _write_matches(out / "mca-persons-medical-flags.csv", mca_matches)
        ill = sum(m.attributes.get("serious_illness") == "1" for m in mca_matches)
        costly = sum(m.attributes.get("high_cost") == "1" for m in mca_matches)
        no_aid = sum(
            m.attributes.get("serious_illness") == "1" and m.attributes.get("medical_assistance") != "1"
            for m in mca_matches
        )
        say(
            f"   {s2.matches} of {s2.my_records} mca persons are insured (agreement {s2.agreement}); "
            f"{ill} seriously ill, {costly} with high medical costs, {no_aid} seriously ill without "
            f"medical assistance"
        )
        nhsa_people = set(extracts["nhsa"].truth.values())
        expected2 = {rid for rid, pid in extracts["mca"].truth.items() if pid in nhsa_people}
        say(f"   {_quality({m.record_id for m in mca_matches}, expected2)}")
        say(f"   {s2.notice.text}")

        say("\n4. A call no agreement allows: edu asks for nhsa's medical data")
        try:
            _compare(deployment.nodes["edu"].stub, "students", "nhsa/medical", common_pb2.ELIGIBILITY_CHECK)
            say("   unexpectedly allowed", file=sys.stderr)
            return 1
        except grpc.RpcError as exc:
            say(f"   refused: {exc.code().name}: {exc.details()}")
        say("\n5. Dynamic monitoring (Art. 14-18) over all ten departments")
        run_monitoring_demo(deployment, population, args.seed, say)

        audit_dir = deployment.matcher.config.data_dir
        audit_log = deployment.matcher.audit_log
        assert audit_log is not None  # the loopback matcher always audits
        audit_size = audit_log.size
        node_calls = {d: len(n.server.call_log.calls()) for d, n in deployment.nodes.items()}
        mca_dir = deployment.nodes["mca"].directory
        checkpoint = audit_log.checkpoint().decode()
        public_key = deployment.audit_key_path.with_name("audit-signing.pub.pem")
        witness_line = _wait_for_cosignature(deployment, audit_log)

    elapsed = time.perf_counter() - started
    from aidlink.audit.store import SQLiteAuditStore
    from aidlink.audit.verify import verify_log

    store = SQLiteAuditStore(audit_dir / "audit.sqlite", read_only=True)
    try:
        from aidlink.witness.cosignature import read_witness_key

        witnesses = [read_witness_key(str(deployment.custody / "witness" / "witness.vkey"))]
        verdict = "verifies" if verify_log(store, witness_keys=witnesses).ok else "DOES NOT VERIFY"
    finally:
        store.close()
    say(
        f"\nAudit: {audit_size} calls recorded (allowed and refused) in {audit_dir / 'audit.sqlite'}; "
        f"the Merkle log {verdict}. Latest signed checkpoint:"
    )
    say("   " + checkpoint.rstrip().replace("\n", "\n   "))
    say(f"   inspect:  aidlink audit tail --data-dir {audit_dir}")
    say(f"   {witness_line}")
    witness_key = deployment.custody / "witness" / "witness.vkey"
    say(f"   verify:   aidlink audit verify --data-dir {audit_dir} --key {public_key} --witness-key {witness_key}")
    say(
        f"Node call logs: {sum(node_calls.values())} calls to the ten nodes, each logged by its node with the "
        f"caller's certificate; e.g. aidlink gateway calls --node-dir {mca_dir}"
    )
    say(f"Results (own record ids only): {out}")
    if args.keep_keys:
        say(f"Private keys kept (unencrypted, demo only) under {workdir}: delete them when done.")
    else:
        removed = delete_private_keys(workdir)
        say(
            f"Deleted the demo's {len(removed)} private keys (unencrypted, made for this run; --keep-keys keeps "
            f"them); certificates, data, results and the audit log stay in {workdir} (rm -r it when done)."
        )
    say(f"Done in {elapsed:.1f} s.")
    return 0
