"""The matcher core's flags, shared by every command that opens the matcher's state
(`aidlink matcher serve`, `aidlink matcher import-bundle`), so each builds the same
`MatcherSettings`: the same database, catalog, agreements, threshold and join backend."""

from __future__ import annotations

import argparse
from pathlib import Path

from aidlink.matcher.comparison import DEFAULT_THRESHOLD
from aidlink.witness.client import WitnessEndpoint
from aidlink.witness.cosignature import read_witness_key


def add_core_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("aidlink-data/matcher"))
    p.add_argument("--catalog", type=Path)
    p.add_argument("--agreements", type=Path)
    p.add_argument("--risk-rules", type=Path, help="risk rule file (default: the embedded Art. 14-15 set)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    p.add_argument("--audit-key", type=Path, help="Ed25519 audit signing key (signs checkpoints)")
    p.add_argument("--audit-key-passphrase-file", type=Path)
    p.add_argument("--audit-origin", help="checkpoint origin line (default: aidlink.audit/<host>)")
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="URL",
        help="a C2SP witness that cosigns each checkpoint (http(s)://host:port); repeatable, "
        "each with its --witness-key in the same order",
    )
    p.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="the witness's verifier key (<name>+<key id>+<base64>, or a file with one; aidlink witness show)",
    )
    p.add_argument("--witness-ca", type=Path, help="CA certificate that https:// witnesses' certificates chain to")
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


def _listed(value: object) -> list[str]:
    """An append flag's values; from the environment (one string) split on commas and white space."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def witness_endpoints(urls: object, keys: object, ca_file: Path | None) -> tuple[WitnessEndpoint, ...]:
    """--witness URL and --witness-key VKEY, paired in order."""
    url_list, key_list = _listed(urls), _listed(keys)
    if len(url_list) != len(key_list):
        raise ValueError(
            f"{len(url_list)} --witness URL(s) but {len(key_list)} --witness-key(s): give each witness its key"
        )
    return tuple(
        WitnessEndpoint(url, read_witness_key(key), Path(ca_file) if ca_file else None)
        for url, key in zip(url_list, key_list)
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
        witnesses=witness_endpoints(args.witness, args.witness_key, args.witness_ca),
        database_url=args.database_url,
        join_backend=args.join_backend,
        dask_scheduler=args.dask_scheduler,
        dask_tls_ca=args.dask_tls_ca,
        dask_tls_cert=args.dask_tls_cert,
        dask_tls_key=args.dask_tls_key,
        dask_connect_timeout=args.dask_connect_timeout,
        dask_insecure_dev=args.dask_insecure_dev,
    )
