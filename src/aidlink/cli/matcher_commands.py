"""`aidlink matcher …`: run the central matcher and inspect what it enforces."""

from __future__ import annotations

import sys
from pathlib import Path

from aidlink.cli.matcher_settings import add_core_options, core_settings
from aidlink.cli.settings import add_config_option
from aidlink.cli.termination import TerminationSignal


def register(sub) -> None:
    p = sub.add_parser("matcher", help="the central matcher")
    msub = p.add_subparsers(dest="matcher_command", metavar="SUBCOMMAND")
    msub.required = True

    s = msub.add_parser("serve", help="run the matcher's gRPC server")
    s.add_argument("--listen", default="127.0.0.1:50051")
    s.add_argument(
        "--tls-dir",
        type=Path,
        help="directory with ca.crt, matcher.crt, matcher.key and crl.pem (re-read when it changes)",
    )
    s.add_argument(
        "--insecure-dev",
        action="store_true",
        help="DEVELOPMENT ONLY: plaintext on a loopback address, department from a header",
    )
    s.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    s.add_argument("--metrics-address", default="127.0.0.1", help="address /metrics binds (0.0.0.0 in a pod)")
    s.add_argument(
        "--health-port",
        type=int,
        help="serve plaintext grpc.health.v1 only on PORT (at --health-address), for Kubernetes probes",
    )
    s.add_argument(
        "--health-address",
        help="address the health port binds (default: the host of --listen; 0.0.0.0 in a pod)",
    )
    s.add_argument(
        "--checkpoint-interval",
        type=float,
        default=10.0,
        help="seconds between signed audit checkpoints while the log grows (default: %(default)s)",
    )
    s.add_argument(
        "--console-listen",
        help="also serve the officers' review console (HTTPS, officer certificates) on HOST:PORT; "
        "needs --tls-dir and --audit-key",
    )
    add_core_options(s)  # the matcher core's settings, shared with `matcher import-bundle`
    add_config_option(s)
    add_service_options(s)
    s.set_defaults(func=serve, settings_parser=s)

    a = msub.add_parser("agreements", help="print the sharing agreements in force as a table")
    a.add_argument("--agreements", type=Path, help="agreement file (default: the embedded Art. 14 set)")
    a.add_argument("--format", choices=("table", "json"), default="table")
    a.set_defaults(func=print_agreements)


def add_service_options(s) -> None:
    """The gRPC server's own settings: its pool, what it admits per department, message size, reflection."""
    from aidlink.cli.settings import message_bytes
    from aidlink.matcher.admission import ServiceLimits
    from aidlink.transport import DEFAULT_MAX_MESSAGE_BYTES

    g = s.add_argument_group("fair service and gRPC (docs/operations.md)")
    g.add_argument(
        "--workers", type=int, default=ServiceLimits.workers, help="gRPC worker threads (default: %(default)s)"
    )
    g.add_argument(
        "--max-streams",
        type=int,
        default=ServiceLimits.streams,
        help="streaming calls (uploads, comparisons, long polls) in progress at once, all departments "
        "together; fewer than --workers, the rest is kept for unary calls (default: %(default)s)",
    )
    g.add_argument(
        "--department-calls",
        type=int,
        default=ServiceLimits.department_calls,
        help="calls in progress at once from one department (default: %(default)s)",
    )
    g.add_argument(
        "--department-streams",
        type=int,
        default=ServiceLimits.department_streams,
        help="streaming calls in progress at once from one department (default: %(default)s)",
    )
    g.add_argument(
        "--max-message-bytes",
        type=message_bytes,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="largest gRPC message received or sent (default: %(default)s, 16 MiB)",
    )
    g.add_argument(
        "--reflection",
        action="store_true",
        help="serve gRPC server reflection (grpcurl lists the services); off by default in production",
    )


def service_settings(args) -> dict:
    """The `MatcherConfig` fields of `add_service_options`."""
    return dict(
        max_workers=args.workers,
        max_streams=args.max_streams,
        department_calls=args.department_calls,
        department_streams=args.department_streams,
        max_message_bytes=args.max_message_bytes,
        reflection=args.reflection,
    )


def serve(args) -> int:
    from aidlink.audit.store import AuditStoreError
    from aidlink.database import DatabaseUnavailable, SchemaError
    from aidlink.matcher.server import MatcherConfig, MatcherServer, TlsFiles

    tls = None
    if args.tls_dir:
        tls = TlsFiles(
            args.tls_dir / "ca.crt",
            args.tls_dir / "matcher.crt",
            args.tls_dir / "matcher.key",
            args.tls_dir / "crl.pem",
        )
    elif not args.insecure_dev:
        print(
            "aidlink matcher serve: pass --tls-dir (mTLS) or, for development on loopback only, --insecure-dev",
            file=sys.stderr,
        )
        return 2
    try:
        server = MatcherServer(
            MatcherConfig(
                listen=args.listen,
                tls=tls,
                insecure_dev=args.insecure_dev,
                metrics_port=args.metrics_port,
                metrics_address=args.metrics_address,
                health_listen=health_listen(args.listen, args.health_address, args.health_port),
                checkpoint_interval=args.checkpoint_interval,
                **core_settings(args),
                **service_settings(args),
            )
        ).start()
    except (ValueError, OSError, AuditStoreError, DatabaseUnavailable, SchemaError) as exc:
        print(f"aidlink matcher serve: {exc}", file=sys.stderr)
        return 2
    console = None
    if getattr(args, "console_listen", None):
        from aidlink.console.cli import start_matcher_console

        try:
            witnesses = tuple(w.verifier.vkey() for w in server.config.witnesses)
            console = start_matcher_console(server.core.audit_log, args.tls_dir, args.console_listen, witnesses)
        except (ValueError, OSError) as exc:
            server.stop(grace=1)
            print(f"aidlink matcher serve: {exc}", file=sys.stderr)
            return 2
    termination = TerminationSignal()
    print(
        f"matcher listening on {server.address}"
        + (f", metrics on :{server.metrics_port}/metrics" if server.metrics_port else "")
        + (f", review console on {console.url}" if console else ""),
        flush=True,
    )
    termination.wait()
    if console is not None:
        console.stop()
    server.stop(grace=10)
    return 0


def health_listen(listen: str, address: str | None, port: int | None) -> str | None:
    """Where the plaintext health port binds: ``address``, else the host the API listens on (never
    wider than ``--listen`` unless asked for)."""
    if port is None:
        return None
    host = address or listen.rsplit(":", 1)[0]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"{host}:{port}"


def print_agreements(args) -> int:
    import json

    from aidlink.matcher.agreements import AgreementError, AgreementSet

    try:
        agreements = AgreementSet.load(args.agreements)
    except AgreementError as exc:
        print(f"aidlink matcher agreements: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "id": a.id,
                        "title": a.title,
                        "provider": a.providers,
                        "user": a.users,
                        "catalog_entries": a.catalog_entries,
                        "purposes": a.purposes,
                        "returns": a.returns,
                        "record_filter": [dict(f) for f in a.record_filter],
                        "valid_from": str(a.valid_from),
                        "valid_until": str(a.valid_until),
                        "onward_sharing": a.onward_sharing,
                    }
                    for a in agreements.agreements
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    print(
        f"Sharing agreements, set {agreements.version} ({len(agreements.agreements)} agreements). "
        "The user learns, for its own records only, which match the provider's records admitted.\n"
    )
    rows = [("article", "agreement", "provider → user", "provider records admitted", "user learns", "purposes")]
    for a in agreements.agreements:
        flt = " or ".join(" & ".join(f"{k}={'|'.join(v)}" for k, v in alt.items()) for alt in a.record_filter) or "all"
        rows.append(
            (
                a.article,
                a.id,
                f"{','.join(a.providers)} → {','.join(a.users)}",
                flt,
                ", ".join(a.returns),
                ", ".join(a.purposes),
            )
        )
    _print_table(rows)
    print()
    for a in agreements.agreements:
        print(f"{a.id}: {a.title}")
        print(
            f"    catalog entries {', '.join(a.catalog_entries)}; valid {a.valid_from} to {a.valid_until}; "
            f"onward sharing: {a.onward_sharing}"
        )
    return 0


def _print_table(rows) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
