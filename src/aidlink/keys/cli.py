"""``aidlink keys``: the key custodian's command group, a thin layer over the keys library.

A custody directory (``--custody``, default ``./aidlink-custody``) holds::

    ca/                  the certificate authority (ca.crt, ca.key, issued/, revocations.json)
    audit/audit-signing.key, audit/audit-signing.pub.pem
    linkage-secrets/     every version of the linkage secret

The CA key, the audit key and every secret version are encrypted at rest under one passphrase,
read from ``--passphrase-file``, the ``AIDLINK_CUSTODY_PASSPHRASE`` environment variable or a
prompt (on a terminal). Keys in the clear only with ``init --unprotected``, which warns.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from aidlink.keys.audit_key import AuditKeyError, AuditSigningKey, audit_key_id, load_audit_public_key, public_key_path
from aidlink.keys.authority import (
    CA_CERT_FILE,
    DEFAULT_HOSTS,
    REVOCATION_REASONS,
    CertificateAuthority,
    CertificateAuthorityError,
    IssuedCertificate,
    issued_certificates,
)
from aidlink.keys.departments import DEPARTMENTS, LEVELS
from aidlink.keys.identity import CertificatePolicy, CertificateRejected
from aidlink.keys.key_files import KeyFileError, ensure_directory, read_file, write_private, write_public
from aidlink.keys.linkage_secret import SealedSecretError
from aidlink.keys.passphrase import key_passphrase
from aidlink.keys.secret_store import STORE_FILE, UNPROTECTED, SecretStore, SecretStoreError

DEFAULT_CUSTODY = Path("aidlink-custody")
PASSPHRASE_ENVIRONMENT = "AIDLINK_CUSTODY_PASSPHRASE"
UNPROTECTED_WARNING = (
    "aidlink keys init: WARNING: --unprotected: the CA key, the audit signing key and the linkage secret "
    "are stored UNENCRYPTED; anyone who can read {custody} holds them"
)
_ERRORS = (
    CertificateAuthorityError,
    CertificateRejected,
    SecretStoreError,
    SealedSecretError,
    AuditKeyError,
    KeyFileError,
    ValueError,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``keys`` command group to the top-level ``aidlink`` parser."""
    group = subparsers.add_parser("keys", help="key custody: CA, node certificates, linkage secret, audit key")
    commands = group.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--custody", type=Path, default=DEFAULT_CUSTODY, help="custody directory (default: %(default)s)"
    )
    common.add_argument(
        "--passphrase-file",
        type=Path,
        help=f"file holding the passphrase that protects the custody keys (else ${PASSPHRASE_ENVIRONMENT}, "
        "else a prompt on a terminal)",
    )

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, parents=[common], help=help, description=help)
        parser.set_defaults(func=_reporting(name, func))
        return parser

    init = command("init", _init, "create the CA, the audit signing key and linkage secret version 1")
    init.add_argument("--ca-name", default="aidlink custodian CA")
    init.add_argument("--ca-days", type=int, default=3650, help="CA validity in days (default: %(default)s)")
    init.add_argument(
        "--unprotected",
        action="store_true",
        help="store the custody keys UNENCRYPTED (demos and tests only; prints a warning)",
    )

    node = command("issue-node", _issue_node, "issue a TLS certificate for a department gateway node")
    node.add_argument("department", choices=list(DEPARTMENTS), metavar="DEPARTMENT", help=", ".join(DEPARTMENTS))
    node.add_argument("--level", required=True, choices=LEVELS)
    node.add_argument("--division-code", required=True, help="6-digit administrative division code, e.g. 320900")
    _issue_options(node)

    matcher = command("issue-matcher", _issue_matcher, "issue a TLS certificate for the central matcher")
    _issue_options(matcher)

    officer = command("issue-officer", _issue_officer, "issue a client certificate for a security officer")
    officer.add_argument("name", help="officer name: lowercase ASCII letters, digits, '.', '_', '-'")
    _issue_options(officer, hosts=False)

    system = command(
        "issue-system",
        _issue_system,
        "issue a client certificate for a department's own system calling its gateway node over mTLS",
    )
    system.add_argument("--department", required=True, choices=list(DEPARTMENTS), help=", ".join(DEPARTMENTS))
    system.add_argument(
        "--name", required=True, help="system name, e.g. caseworker-app (lowercase ASCII, '.', '_', '-')"
    )
    _issue_options(system, hosts=False)

    revoke = command("revoke", _revoke, "revoke a certificate by serial (hex with 0x, or decimal)")
    revoke.add_argument("serial", type=_serial)
    revoke.add_argument("--reason", default="unspecified", choices=REVOCATION_REASONS)

    crl = command("crl", _crl, "write the certificate revocation list signed by the CA")
    crl.add_argument("--out", type=Path, required=True, help="CRL file (PEM)")
    crl.add_argument("--days", type=int, default=7, help="days until the CRL's next update (default: %(default)s)")

    command("rotate-secret", _rotate_secret, "create the next version of the linkage secret")

    seal = command("seal-secret", _seal_secret, "seal a linkage-secret version to one node's certificate")
    seal.add_argument("--version", type=int, help="secret version (default: the current one)")
    seal.add_argument("--cert", type=Path, required=True, help="the node's certificate (PEM)")
    seal.add_argument("--out", type=Path, required=True, help="sealed secret file")

    command("show", _show, "list issued certificates and secret versions (no key material)")


def _issue_options(parser: argparse.ArgumentParser, *, hosts: bool = True) -> None:
    parser.add_argument("--out", type=Path, required=True, help="directory for <name>.crt, <name>.key and ca.crt")
    if hosts:
        parser.add_argument(
            "--host",
            action="append",
            dest="hosts",
            help=f"DNS name or IP for the certificate; repeatable (default: {' '.join(DEFAULT_HOSTS)})",
        )
    parser.add_argument("--days", type=int, default=365, help="validity in days (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files in --out")


def _reporting(name: str, func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except _ERRORS as exc:
            print(f"aidlink keys {name}: error: {exc}", file=sys.stderr)
            return 1

    return run


# -- custody layout ---------------------------------------------------------------------------


def _ca_dir(args: argparse.Namespace) -> Path:
    return args.custody / "ca"


def _audit_key_path(args: argparse.Namespace) -> Path:
    return args.custody / "audit" / "audit-signing.key"


def _secrets(args: argparse.Namespace) -> SecretStore:
    return SecretStore(args.custody / "linkage-secrets", _passphrase(args))


def _passphrase(args: argparse.Namespace, *, creating: bool = False) -> bytes | None:
    """The custody passphrase: --passphrase-file, else the environment, else a prompt on a terminal.

    Opening a custody, None when none was given (an unprotected custody needs none; a protected
    one then refuses with "passphrase-protected"). Creating one, a passphrase is required.
    """
    return key_passphrase(
        args.passphrase_file,
        PASSPHRASE_ENVIRONMENT,
        prompt=f"passphrase for custody {args.custody}: ",
        refusal=(
            f"custody keys are encrypted at rest: give a passphrase with --passphrase-file FILE, "
            f"${PASSPHRASE_ENVIRONMENT} or at the prompt (on a terminal); --unprotected stores them unencrypted"
        ),
        creating=creating,
        needed=creating or _custody_protected(args),
    )


def _custody_protected(args: argparse.Namespace) -> bool:
    """Whether the custody's secret store says it is passphrase-protected (what it was created with)."""
    try:
        meta = json.loads((args.custody / "linkage-secrets" / STORE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("protection") != UNPROTECTED


def _load_ca(args: argparse.Namespace) -> CertificateAuthority:
    return CertificateAuthority.load(_ca_dir(args), _passphrase(args))


# -- commands ---------------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    if (args.custody / "ca").exists() or (args.custody / "linkage-secrets").exists():
        raise CertificateAuthorityError(f"{args.custody} already holds custody material; refusing to re-initialise")
    if args.unprotected:
        if args.passphrase_file is not None or os.environ.get(PASSPHRASE_ENVIRONMENT):
            raise ValueError(
                f"--unprotected and a passphrase (--passphrase-file or ${PASSPHRASE_ENVIRONMENT}) contradict each other"
            )
        passphrase = None
        print(UNPROTECTED_WARNING.format(custody=args.custody), file=sys.stderr)
    else:
        passphrase = _passphrase(args, creating=True)
    ensure_directory(args.custody, private=True)
    # Keep custody material out of any git checkout it happens to be created in.
    write_private(args.custody / ".gitignore", b"*\n", overwrite=True)
    ca = CertificateAuthority.create(
        _ca_dir(args), name=args.ca_name, passphrase=passphrase, validity_days=args.ca_days
    )
    ensure_directory(_audit_key_path(args).parent, private=True)
    audit = AuditSigningKey.create(_audit_key_path(args), passphrase)
    secret = SecretStore(args.custody / "linkage-secrets", passphrase, unprotected=passphrase is None).rotate()
    protection = " (keys passphrase-protected)" if passphrase else " (keys UNENCRYPTED: --unprotected)"
    print(f"custody initialised in {args.custody}{protection}")
    print(f"  CA            {ca.certificate.subject.rfc4514_string()}  sha256:{ca.fingerprint_sha256}")
    print(f"  audit key     {audit.key_id}  public key {public_key_path(_audit_key_path(args))}")
    print(f"  linkage secret version {secret.version}  key id {secret.key_id}")
    return 0


def _write_issued(args: argparse.Namespace, ca: CertificateAuthority, issued: IssuedCertificate, stem: str) -> int:
    cert_path, key_path = issued.write(args.out, stem, overwrite=args.force)
    write_public(args.out / CA_CERT_FILE, ca.cert_pem, overwrite=True)
    identity = issued.identity
    print(f"issued {identity.uri}  serial {issued.serial:#x}  valid until {identity.not_after:%Y-%m-%d}")
    print(f"  {cert_path}\n  {key_path}  (private, 0600)\n  {args.out / CA_CERT_FILE}")
    return 0


def _issue_node(args: argparse.Namespace) -> int:
    ca = _load_ca(args)
    issued = ca.issue_node(
        args.department,
        level=args.level,
        division_code=args.division_code,
        hosts=args.hosts or DEFAULT_HOSTS,
        validity_days=args.days,
    )
    stem = f"{args.department}-{args.division_code}"
    _write_issued(args, ca, issued, stem)
    sealed = args.out / "linkage-secret.sealed"
    print(f"next: aidlink keys seal-secret --cert {args.out / stem}.crt --out {sealed}; aidlink keys crl --out CRL")
    print(
        f"then the department: aidlink node init --department {args.department} --node-dir NODE_DIR "
        f"--issued {args.out} --matcher HOST:PORT  (with the CRL in {args.out}; docs/department-guide.md)"
    )
    return 0


def _issue_matcher(args: argparse.Namespace) -> int:
    ca = _load_ca(args)
    issued = ca.issue_matcher(hosts=args.hosts or DEFAULT_HOSTS, validity_days=args.days)
    return _write_issued(args, ca, issued, "matcher")


def _issue_officer(args: argparse.Namespace) -> int:
    ca = _load_ca(args)
    issued = ca.issue_officer(args.name, validity_days=args.days)
    return _write_issued(args, ca, issued, f"officer-{args.name}")


def _issue_system(args: argparse.Namespace) -> int:
    ca = _load_ca(args)
    issued = ca.issue_system(args.department, args.name, validity_days=args.days)
    return _write_issued(args, ca, issued, f"system-{args.department}-{args.name}")


def _revoke(args: argparse.Namespace) -> int:
    record = _load_ca(args).revoke(args.serial, args.reason)
    print(
        f"revoked {record.uri}  serial {record.serial:#x}  at {record.revoked_at:%Y-%m-%dT%H:%M:%SZ} ({record.revocation_reason})"
    )
    print("publish a fresh CRL to the matcher: aidlink keys crl --out FILE")
    return 0


def _crl(args: argparse.Namespace) -> int:
    ca = _load_ca(args)
    write_public(args.out, ca.crl_pem(next_update_days=args.days), overwrite=True)
    revoked = sum(1 for r in ca.issued() if r.revoked_at)
    print(f"wrote CRL with {revoked} revoked certificate(s) to {args.out}, valid {args.days} day(s)")
    return 0


def _rotate_secret(args: argparse.Namespace) -> int:
    secret = _secrets(args).rotate()
    print(f"linkage secret version {secret.version} created, key id {secret.key_id}")
    print(f"seal it to each node: aidlink keys seal-secret --version {secret.version} --cert NODE.crt --out FILE")
    return 0


def _seal_secret(args: argparse.Namespace) -> int:
    cert_pem = read_file(args.cert, "node certificate")
    ca_cert_pem = read_file(_ca_dir(args) / CA_CERT_FILE, "CA certificate")
    identity = CertificatePolicy(ca_cert_pem, kinds={"node"}).check(cert_pem)
    record = next((r for r in issued_certificates(_ca_dir(args)) if r.serial == identity.serial), None)
    if record is None:
        raise CertificateRejected(identity.common_name, identity.serial, f"not in the issue records of {_ca_dir(args)}")
    if record.revoked_at is not None:
        raise CertificateRejected(
            identity.common_name,
            identity.serial,
            f"revoked at {record.revoked_at:%Y-%m-%dT%H:%M:%SZ} ({record.revocation_reason}); issue a new one",
        )
    store = _secrets(args)
    version = args.version if args.version is not None else store.current().version
    write_public(args.out, store.seal_for(version, cert_pem), overwrite=True)
    print(f"sealed linkage secret version {version} to {identity.uri} (serial {identity.serial:#x}) in {args.out}")
    return 0


def _show(args: argparse.Namespace) -> int:
    ca = x509.load_pem_x509_certificate(read_file(_ca_dir(args) / CA_CERT_FILE, "CA certificate"))
    print(f"custody {args.custody}")
    print(
        f"CA {ca.subject.rfc4514_string()}  valid until {ca.not_valid_after_utc:%Y-%m-%d}  "
        f"sha256:{ca.fingerprint(hashes.SHA256()).hex()}"
    )
    print("issued certificates:")
    records = issued_certificates(_ca_dir(args))
    for r in records:
        state = f"REVOKED {r.revoked_at:%Y-%m-%d} ({r.revocation_reason})" if r.revoked_at else "valid"
        print(f"  {r.serial:#042x}  {r.uri:<40}  until {r.not_after:%Y-%m-%d}  {state}")
    if not records:
        print("  (none)")
    print("linkage secret versions:")
    for info in SecretStore(args.custody / "linkage-secrets").describe():  # lists versions; needs no passphrase
        print(f"  v{info.version}  created {info.created_at:%Y-%m-%dT%H:%M:%SZ}  key id {info.key_id}")
    pub_path = public_key_path(_audit_key_path(args))
    if pub_path.exists():
        print(f"audit signing key {audit_key_id(load_audit_public_key(pub_path.read_bytes()))}  ({pub_path})")
    return 0


def _serial(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"serial {text!r} is neither 0x-prefixed hex nor decimal") from None
