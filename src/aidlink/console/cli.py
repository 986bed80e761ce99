"""`aidlink console serve`: the officers' review console over HTTPS with officer certificates.

The console appends every page view to the audit log, so it must be the only writer of the log
it serves: run it over a log no matcher is writing (a stopped matcher's data directory or
database, an archived copy), or host it in the matcher's own process (`aidlink matcher serve
--console-listen`), which shares the matcher's log writer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aidlink.cli.termination import TerminationSignal


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="the security officers' review console (web, mTLS)")
    csub = p.add_subparsers(dest="console_command", metavar="SUBCOMMAND")
    csub.required = True
    s = csub.add_parser("serve", help="serve the review console over HTTPS to officer certificates")
    s.add_argument("--listen", default="127.0.0.1:8443", help="HOST:PORT (default 127.0.0.1:8443)")
    s.add_argument(
        "--tls-dir",
        type=Path,
        required=True,
        help="directory with ca.crt, console.crt, console.key and crl.pem (the CRL is re-read when it changes)",
    )
    s.add_argument("--data-dir", type=Path, help="the matcher's data directory (the log is DIR/audit.sqlite)")
    s.add_argument("--database-url", help="the audit log's database (postgresql://… or sqlite:///…)")
    s.add_argument(
        "--verifier-key",
        required=True,
        help="the audit public key the officers' browsers check checkpoints against (verifier key string or file, or PEM)",
    )
    s.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's verifier key (repeatable): the browser checks its cosignature on the checkpoint it verifies against",
    )
    s.set_defaults(func=serve)
    from aidlink.console.paging_bench import register as register_bench

    register_bench(csub)


def serve(args: argparse.Namespace) -> int:
    from aidlink.audit.log import AuditError, AuditLog
    from aidlink.audit.open_store import open_audit_store
    from aidlink.audit.store import AuditStoreError
    from aidlink.audit.verifier_key import VerifierKeyError, read_verifier_key
    from aidlink.database.url import sqlite_url
    from aidlink.witness.cosignature import read_witness_key

    try:
        if args.database_url:
            url = args.database_url
        elif args.data_dir is not None:
            url = sqlite_url(args.data_dir / "audit.sqlite")
        else:
            raise ValueError("--data-dir (or --database-url) is required")
        key = read_verifier_key(args.verifier_key)
        witnesses = tuple(read_witness_key(k).vkey() for k in args.witness_key)
        log = AuditLog(open_audit_store(url), checkpoint_interval=None)
    except (ValueError, OSError, AuditStoreError, AuditError, VerifierKeyError) as exc:
        print(f"aidlink console serve: {exc}", file=sys.stderr)
        return 2
    try:
        server = start_console(log, key, args.tls_dir, args.listen, witnesses=witnesses)
    except (ValueError, OSError) as exc:
        log.close()
        print(f"aidlink console serve: {exc}", file=sys.stderr)
        return 2
    termination = TerminationSignal()
    print(f"console listening on {server.url}", flush=True)
    termination.wait()
    server.stop()
    log.close()
    return 0


def start_console(
    log, verifier_key, tls_dir: Path, listen: str, cert_name: str = "console", witnesses: tuple[str, ...] = ()
):
    """A started ConsoleServer over `log` (the AuditLog that records its views), with the server
    certificate ``<cert_name>.crt``/``.key`` and ca.crt and crl.pem from `tls_dir`."""
    from aidlink.audit.reader import AuditReader
    from aidlink.console.app import ConsoleContext
    from aidlink.console.officer_auth import ConsoleTls, OfficerAuthenticator
    from aidlink.console.server import ConsoleServer
    from aidlink.matcher.revocation import RevocationListFile

    tls = ConsoleTls.in_directory(tls_dir, cert_name)
    for path in (tls.ca_cert, tls.cert, tls.key):
        if not path.is_file():
            raise ValueError(f"the console's TLS directory has no {path.name} ({tls_dir})")
    context = ConsoleContext(
        reader=AuditReader(log.store),
        record=log.append,
        authenticate=OfficerAuthenticator(tls.ca_cert.read_bytes(), RevocationListFile(tls.crl)),
        verifier_key=verifier_key,
        witnesses=witnesses,
    )
    return ConsoleServer(context, tls, listen).start()


def start_matcher_console(audit_log, tls_dir: Path | None, listen: str, witnesses: tuple[str, ...] = ()):
    """The console inside `aidlink matcher serve` (``--console-listen``): it records its views
    through the matcher's own log writer and serves with the matcher's certificate from --tls-dir."""
    from aidlink.audit.verifier_key import VerifierKey

    if tls_dir is None:
        raise ValueError("--console-listen needs --tls-dir: the console is served to officer certificates only")
    if audit_log is None or audit_log.verifier() is None:
        raise ValueError("--console-listen needs --audit-key: the officers' browsers verify signed checkpoints")
    verifier = audit_log.verifier()
    key = VerifierKey(verifier.public_key, verifier.name, "the matcher's audit key")
    return start_console(audit_log, key, tls_dir, listen, cert_name="matcher", witnesses=witnesses)
