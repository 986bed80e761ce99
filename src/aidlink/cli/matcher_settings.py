"""The matcher core's flags, shared by every command that opens the matcher's state
(`aidlink matcher serve`, `aidlink matcher import-bundle`), so each builds the same
`MatcherSettings`: the same database, catalog, agreements, threshold and join backend."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_core_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("aidlink-data/matcher"))
    p.add_argument("--catalog", type=Path)
    p.add_argument("--agreements", type=Path)
    p.add_argument("--risk-rules", type=Path, help="risk rule file (default: the embedded Art. 14-15 set)")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="default Dice threshold of compares that ask for none (default: each schema's calibrated threshold)",
    )
    p.add_argument("--audit-key", type=Path, help="Ed25519 audit signing key (signs checkpoints)")
    p.add_argument("--audit-key-passphrase-file", type=Path)
    p.add_argument("--audit-origin", help="checkpoint origin line (default: aidlink.audit/<host>)")
    p.add_argument(
        "--database-url",
        help="where matcher state lives: postgresql://user@host:5432/db or sqlite:///file.sqlite "
        "(default: SQLite files in --data-dir; also AIDLINK_DATABASE_URL)",
    )
    p.add_argument(
        "--join-backend",
        choices=("local", "dask"),
        default="local",
        help="engine of exhaustive joins: local (in process, default) or dask (a Dask "
        "cluster at --dask-scheduler); also AIDLINK_JOIN_BACKEND",
    )
    p.add_argument(
        "--dask-scheduler",
        help="Dask scheduler address, tls://host:8786 (with --dask-tls-*); tcp:// only with --dask-insecure-dev",
    )
    p.add_argument("--dask-tls-ca", type=Path, help="CA certificate of the Dask cluster (its own CA)")
    p.add_argument("--dask-tls-cert", type=Path, help="the matcher's client certificate for the Dask cluster")
    p.add_argument("--dask-tls-key", type=Path, help="the key of --dask-tls-cert")
    p.add_argument(
        "--dask-insecure-dev",
        action="store_true",
        help="DEVELOPMENT ONLY: allow a plaintext tcp:// Dask scheduler (Dask's protocol unpickles what it receives)",
    )
    p.add_argument(
        "--dask-connect-timeout",
        type=float,
        default=30.0,
        help="seconds to reach the Dask scheduler at start-up (default: %(default)s)",
    )


def core_settings(args: argparse.Namespace) -> dict:
    """The `MatcherSettings` (and `MatcherConfig`) fields the core options give."""
    return dict(
        data_dir=args.data_dir,
        catalog=args.catalog,
        agreements=args.agreements,
        risk_rules=args.risk_rules,
        threshold=args.threshold,
        audit_key=args.audit_key,
        audit_key_passphrase=(
            args.audit_key_passphrase_file.read_bytes().strip() if args.audit_key_passphrase_file else None
        ),
        audit_origin=args.audit_origin,
        database_url=args.database_url,
        join_backend=args.join_backend,
        dask_scheduler=args.dask_scheduler,
        dask_tls_ca=args.dask_tls_ca,
        dask_tls_cert=args.dask_tls_cert,
        dask_tls_key=args.dask_tls_key,
        dask_connect_timeout=args.dask_connect_timeout,
        dask_insecure_dev=args.dask_insecure_dev,
    )
