"""`aidlink matcher …`: run the central matcher and inspect what it enforces."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from aidlink.cli.settings import add_config_option

from aidlink.matcher.comparison import DEFAULT_THRESHOLD


def register(sub) -> None:
    p = sub.add_parser("matcher", help="the central matcher")
    msub = p.add_subparsers(dest="matcher_command", metavar="SUBCOMMAND")
    msub.required = True

    s = msub.add_parser("serve", help="run the matcher's gRPC server")
    s.add_argument("--data-dir", type=Path, default=Path("aidlink-data/matcher"))
    s.add_argument("--listen", default="127.0.0.1:50051")
    s.add_argument("--tls-dir", type=Path,
                   help="directory with ca.crt, matcher.crt, matcher.key and optionally crl.pem")
    s.add_argument("--insecure-dev", action="store_true",
                   help="DEVELOPMENT ONLY: plaintext on a loopback address, department from a header")
    s.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    s.add_argument("--metrics-address", default="127.0.0.1", help="address /metrics binds (0.0.0.0 in a pod)")
    s.add_argument("--catalog", type=Path)
    s.add_argument("--agreements", type=Path)
    s.add_argument("--risk-rules", type=Path, help="risk rule file (default: the embedded Art. 14-15 set)")
    s.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    s.add_argument("--audit-key", type=Path, help="Ed25519 audit signing key (signs checkpoints)")
    s.add_argument("--audit-key-passphrase-file", type=Path)
    s.add_argument("--audit-origin", help="checkpoint origin line (default: aidlink.audit/<host>)")
    s.add_argument("--health-port", type=int,
                   help="serve plaintext grpc.health.v1 only on 0.0.0.0:PORT, for Kubernetes probes")
    s.add_argument("--database-url",
                   help="where matcher state lives: postgresql://user@host:5432/db or sqlite:///file.sqlite "
                        "(default: SQLite files in --data-dir; also AIDLINK_DATABASE_URL)")
    s.add_argument("--join-backend", choices=("local", "dask"), default="local",
                   help="engine of exhaustive joins: local (in process, default) or dask (a Dask "
                        "cluster at --dask-scheduler); also AIDLINK_JOIN_BACKEND")
    s.add_argument("--dask-scheduler", help="Dask scheduler address, tcp://host:8786 or tls://host:8786")
    s.add_argument("--dask-tls-ca", type=Path, help="CA certificate of the Dask cluster (its own CA)")
    s.add_argument("--dask-tls-cert", type=Path, help="the matcher's client certificate for the Dask cluster")
    s.add_argument("--dask-tls-key", type=Path, help="the key of --dask-tls-cert")
    s.add_argument("--dask-connect-timeout", type=float, default=30.0,
                   help="seconds to reach the Dask scheduler at start-up (default: %(default)s)")
    add_config_option(s)
    s.set_defaults(func=serve, settings_parser=s)

    a = msub.add_parser("agreements", help="print the sharing agreements in force as a table")
    a.add_argument("--agreements", type=Path, help="agreement file (default: the embedded Art. 14 set)")
    a.add_argument("--format", choices=("table", "json"), default="table")
    a.set_defaults(func=print_agreements)


def serve(args) -> int:
    from aidlink.audit.store import AuditStoreError
    from aidlink.database import DatabaseUnavailable, SchemaError
    from aidlink.matcher.server import MatcherConfig, MatcherServer, TlsFiles

    tls = None
    if args.tls_dir:
        crl = args.tls_dir / "crl.pem"
        tls = TlsFiles(args.tls_dir / "ca.crt", args.tls_dir / "matcher.crt", args.tls_dir / "matcher.key",
                       crl if crl.exists() else None)
    elif not args.insecure_dev:
        print("aidlink matcher serve: pass --tls-dir (mTLS) or, for development on loopback only, "
              "--insecure-dev", file=sys.stderr)
        return 2
    try:
        server = MatcherServer(MatcherConfig(
            data_dir=args.data_dir, listen=args.listen, tls=tls, insecure_dev=args.insecure_dev,
            metrics_port=args.metrics_port, catalog=args.catalog, agreements=args.agreements,
            risk_rules=args.risk_rules, threshold=args.threshold, audit_key=args.audit_key,
            audit_key_passphrase=(args.audit_key_passphrase_file.read_bytes().strip()
                                  if args.audit_key_passphrase_file else None),
            audit_origin=args.audit_origin, metrics_address=args.metrics_address,
            health_listen=f"0.0.0.0:{args.health_port}" if args.health_port else None,
            database_url=args.database_url, join_backend=args.join_backend,
            dask_scheduler=args.dask_scheduler, dask_tls_ca=args.dask_tls_ca,
            dask_tls_cert=args.dask_tls_cert, dask_tls_key=args.dask_tls_key,
            dask_connect_timeout=args.dask_connect_timeout)).start()
    except (ValueError, OSError, AuditStoreError, DatabaseUnavailable, SchemaError) as exc:
        print(f"aidlink matcher serve: {exc}", file=sys.stderr)
        return 2
    print(f"matcher listening on {server.address}"
          + (f", metrics on :{server.metrics_port}/metrics" if server.metrics_port else ""), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=10)
    return 0


def print_agreements(args) -> int:
    import json

    from aidlink.matcher.agreements import AgreementError, AgreementSet

    try:
        agreements = AgreementSet.load(args.agreements)
    except AgreementError as exc:
        print(f"aidlink matcher agreements: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps([{
            "id": a.id, "title": a.title, "provider": a.providers, "user": a.users,
            "catalog_entries": a.catalog_entries, "purposes": a.purposes, "returns": a.returns,
            "record_filter": [dict(f) for f in a.record_filter], "valid_from": str(a.valid_from),
            "valid_until": str(a.valid_until), "onward_sharing": a.onward_sharing}
            for a in agreements.agreements], ensure_ascii=False, indent=2))
        return 0
    print(f"Sharing agreements, set {agreements.version} ({len(agreements.agreements)} agreements). "
          "The user learns, for its own records only, which match the provider's records admitted.\n")
    rows = [("article", "agreement", "provider → user", "provider records admitted", "user learns",
             "purposes")]
    for a in agreements.agreements:
        flt = " or ".join(" & ".join(f"{k}={'|'.join(v)}" for k, v in alt.items())
                          for alt in a.record_filter) or "all"
        rows.append((a.article, a.id, f"{','.join(a.providers)} → {','.join(a.users)}", flt,
                     ", ".join(a.returns), ", ".join(a.purposes)))
    _print_table(rows)
    print()
    for a in agreements.agreements:
        print(f"{a.id}: {a.title}")
        print(f"    catalog entries {', '.join(a.catalog_entries)}; valid {a.valid_from} to {a.valid_until}; "
              f"onward sharing: {a.onward_sharing}")
    return 0


def _print_table(rows) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
