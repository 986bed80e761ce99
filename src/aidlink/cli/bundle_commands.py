"""Offline exchange on removable media (Art. 10):

    aidlink gateway export-bundle    a department's encodings + manifest, encrypted to the matcher
    aidlink matcher import-bundle    verify, load, compare; write the result bundle for the node
    aidlink gateway import-results   verify the matcher's result bundle; CSV of my record ids

`register(sub)` adds these to the existing `gateway` and `matcher` commands.
`matcher import-bundle` works on the matcher's data directory with the matcher stopped
(the audit log has one writer); it appends its own audit entries.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path


def _subcommands(sub, name: str):
    parser = sub.choices[name]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def register(sub) -> None:
    """Adds to `gateway` and `matcher`, whichever the parser being built has (see cli.main)."""
    if "gateway" in sub.choices:
        register_gateway(_subcommands(sub, "gateway"))
    if "matcher" in sub.choices:
        register_matcher(_subcommands(sub, "matcher"))


def register_gateway(gsub) -> None:
    e = gsub.add_parser("export-bundle", help="write an encrypted, signed offline bundle for the matcher")
    e.add_argument("input", type=Path, help="CSV extract")
    e.add_argument("--department", required=True)
    e.add_argument(
        "--node-dir", type=Path, required=True, help="directory with ca.crt, node.crt, node.key, linkage-secret.sealed"
    )
    e.add_argument("--data-dir", type=Path, help="node state (default: NODE_DIR/state)")
    e.add_argument("--matcher-cert", type=Path, required=True, help="the matcher's certificate (PEM)")
    e.add_argument("--dataset", required=True)
    e.add_argument("--catalog-entry", required=True)
    e.add_argument("--catalog-version", default="2023.1")
    e.add_argument("--id-column", default="rec_id")
    e.add_argument(
        "--attribute",
        action="append",
        default=[],
        help="attribute column to send (repeat; default: every attribute the catalog entry lists, derived ones computed on the node)",
    )
    e.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="DEPT/DATASET:PURPOSE",
        help="a comparison for the matcher to run, e.g. mca/low-income:eligibility-check (repeat)",
    )
    e.add_argument("--allow-unknown-columns", action="store_true", help="drop columns that are not declared")
    e.add_argument("--expires-days", type=int, default=14)
    e.add_argument(
        "--key-scope",
        default="",
        metavar="SCOPE",
        help="the key scope of the agreement and period, as the online node's --key-scope ({quarter}, {year})",
    )
    e.add_argument("--output", "-o", type=Path, required=True)
    e.set_defaults(func=export_bundle)

    r = gsub.add_parser("import-results", help="read the matcher's result bundle: CSV per comparison")
    r.add_argument("bundle", type=Path)
    r.add_argument("--node-dir", type=Path, required=True)
    r.add_argument("--data-dir", type=Path, help="node state (default: NODE_DIR/state)")
    r.add_argument("--output-dir", type=Path, required=True)
    r.set_defaults(func=import_results)


def register_matcher(msub) -> None:
    from aidlink.cli.matcher_settings import add_core_options

    i = msub.add_parser("import-bundle", help="verify and load a department's offline bundle (matcher stopped)")
    i.add_argument("bundle", type=Path)
    i.add_argument(
        "--tls-dir", type=Path, required=True, help="directory with ca.crt, matcher.crt, matcher.key, crl.pem"
    )
    i.add_argument("--output", "-o", type=Path, required=True, help="where to write the result bundle")
    add_core_options(i)  # the same settings as `matcher serve`: the same matcher core
    i.set_defaults(func=import_bundle)


def export_bundle(args) -> int:
    from aidlink.cli.catalog_defaults import entry_attributes
    from aidlink.cli.gateway_commands import _open_secret
    from aidlink.gateway.bundle import export_dataset_bundle
    from aidlink.gateway.encoding import LinkageSchema
    from aidlink.gateway.extract import ExtractError, read_extract
    from aidlink.gateway.key_scope import expand_scope
    from aidlink.gateway.node import GatewayNode
    from aidlink.gateway.pipeline import RecordPipeline
    from aidlink.gateway.refs import ReferenceMap
    from aidlink.matcher.purposes import BY_NAME
    from aidlink.v1 import bundle_pb2

    asks = []
    for spec in args.compare:
        other, _, purpose = spec.rpartition(":")
        if "/" not in other or purpose not in BY_NAME:
            print(
                f"aidlink gateway export-bundle: --compare {spec!r}: expected DEPT/DATASET:PURPOSE with a purpose "
                f"from {', '.join(BY_NAME)}",
                file=sys.stderr,
            )
            return 2
        asks.append(bundle_pb2.BundleCompareRequest(other_dataset=other, purpose=purpose))
    try:
        extract = read_extract(
            args.input,
            id_column=args.id_column,
            attributes=tuple(args.attribute) or entry_attributes(args.catalog_entry, args.catalog_version),
            allow_unknown=args.allow_unknown_columns,
        )
    except ExtractError as exc:
        print(f"aidlink gateway export-bundle: {args.input}: {exc}", file=sys.stderr)
        return 2
    from aidlink.gateway.node_setup import NodeSetupError, check_node_directory
    from aidlink.keys.identity import load_certificate
    from aidlink.keys.secret_file import SecretFileError

    try:
        check_node_directory(args.node_dir, args.department)
        key, version = _open_secret(args.node_dir)
    except (NodeSetupError, SecretFileError) as exc:
        print(f"aidlink gateway export-bundle: {exc}", file=sys.stderr)
        return 2
    try:
        matcher_cert_pem = args.matcher_cert.read_bytes()
        load_certificate(matcher_cert_pem)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(
            f"aidlink gateway export-bundle: --matcher-cert {args.matcher_cert}: {reason}; give the matcher's "
            "certificate (PEM)",
            file=sys.stderr,
        )
        return 2
    refs = ReferenceMap((args.data_dir or args.node_dir / "state") / "references.sqlite")
    try:
        scope = expand_scope(args.key_scope, date.today())
        pipeline = RecordPipeline(LinkageSchema.default_chinese(), key, version, scope=scope)
        node = GatewayNode(args.department, pipeline, None, refs)
        exported = export_dataset_bundle(
            node,
            args.dataset,
            args.catalog_entry,
            args.catalog_version,
            extract.rows,
            attributes=args.attribute,
            id_column=args.id_column,
            compare=asks,
            key_pem=(args.node_dir / "node.key").read_bytes(),
            cert_pem=(args.node_dir / "node.crt").read_bytes(),
            matcher_cert_pem=matcher_cert_pem,
            lifetime=timedelta(days=args.expires_days),
        )
    except ValueError as exc:
        print(f"aidlink gateway export-bundle: {exc}", file=sys.stderr)
        return 2
    finally:
        refs.close()
    args.output.write_bytes(exported.blob)
    for p in exported.problems:
        print(f"row {p.row} ({p.record_id}): {p.field}: {p.reason}", file=sys.stderr)
    print(
        f"bundle {exported.bundle_id}: {exported.records} of {exported.rows} rows -> {args.output} "
        f"(encrypted to the matcher, expires in {args.expires_days} days)"
    )
    return 0


def import_bundle(args) -> int:
    from aidlink.audit.store import AuditStoreError
    from aidlink.cli.matcher_settings import core_settings
    from aidlink.database import DatabaseUnavailable, SchemaError
    from aidlink.gateway.bundle import BundleLedger
    from aidlink.matcher.bundle_import import BundleRefused
    from aidlink.matcher.core import MatcherCore, MatcherSettings

    tls, crl = args.tls_dir, args.tls_dir / "crl.pem"
    try:  # the matcher core `matcher serve` runs, built from the same settings, with the matcher stopped
        keys = {
            "key_pem": (tls / "matcher.key").read_bytes(),
            "cert_pem": (tls / "matcher.crt").read_bytes(),
            "ca_cert_pem": (tls / "ca.crt").read_bytes(),
        }
        core = MatcherCore(
            MatcherSettings(checkpoint_interval=None, max_workers=2, **core_settings(args)),
            application_name="aidlink-import-bundle",
        )
    except (ValueError, OSError, AuditStoreError, DatabaseUnavailable, SchemaError) as exc:
        print(f"aidlink matcher import-bundle: {exc}", file=sys.stderr)
        return 2
    ledger = BundleLedger(core.data_dir / "bundles.sqlite")
    importer = core.bundle_importer(ledger, crl_pem=lambda: crl.read_bytes() if crl.exists() else None, **keys)
    try:
        outcome = importer.import_bundle(args.bundle.read_bytes())
    except BundleRefused as exc:
        print(f"aidlink matcher import-bundle: refused ({exc.status}): {exc}", file=sys.stderr)
        return 1
    finally:
        ledger.close()
        core.close()  # flushes the audit log and signs a last checkpoint if it grew
    args.output.write_bytes(outcome.result_blob)
    u = outcome.upload
    print(
        f"bundle {outcome.bundle_id} from {outcome.department}: {u.dataset} v{u.version}, {u.accepted} records "
        f"accepted, {u.rejected_count} refused; result bundle -> {args.output}"
    )
    return 0


def import_results(args) -> int:
    from aidlink.cli.downloads import write_table
    from aidlink.gateway.bundle import BundleError, BundleLedger, read_result_bundle
    from aidlink.gateway.refs import ReferenceMap

    try:
        blob = args.bundle.read_bytes()
        key_pem, cert_pem, ca_cert_pem = ((args.node_dir / f).read_bytes() for f in ("node.key", "node.crt", "ca.crt"))
    except OSError as exc:
        print(f"aidlink gateway import-results: {exc.filename}: cannot read it ({exc.strerror})", file=sys.stderr)
        return 2
    state = args.data_dir or args.node_dir / "state"
    refs, ledger = ReferenceMap(state / "references.sqlite"), BundleLedger(state / "bundles.sqlite")
    try:
        results = read_result_bundle(
            blob, refs=refs, key_pem=key_pem, cert_pem=cert_pem, ca_cert_pem=ca_cert_pem, ledger=ledger
        )
    except BundleError as exc:
        print(f"aidlink gateway import-results: refused ({exc.problem}): {exc}", file=sys.stderr)
        return 1
    finally:
        refs.close()
        ledger.close()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    print(f"upload {results.upload.dataset} v{results.upload.version}: {results.upload.accepted} records accepted")
    for n, c in enumerate(results.comparisons, 1):
        label = f"{c.request.other_dataset} ({c.request.my_dataset})"
        if c.summary is None:
            print(f"comparison {n} with {label}: refused: {c.refused}")
            continue
        path = args.output_dir / f"comparison-{n}.csv"
        names = sorted({k for m in c.matches for k in m.attributes})
        write_table(
            path,
            ["record_id", "score", *names],
            [[m.record_id, f"{m.score:.4f}", *(m.attributes.get(k, "") for k in names)] for m in c.matches],
        )
        print(f"comparison {n} with {label}: {c.summary.matches} matches (agreement {c.summary.agreement}) -> {path}")
        print(f"    {c.summary.notice.text}")
    return 0
