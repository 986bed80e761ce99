"""A department node's directory: what the custodian issued, checked and laid out under the
names `aidlink gateway serve` expects.

The custodian hands a department a CA certificate, a node certificate and key (named
``<dept>-<division>.crt/.key`` by `aidlink keys issue-node`), a linkage secret sealed to that
certificate and a revocation list. :func:`check_node_credentials` proves they belong together
(a node certificate of *this* department, from this CA, in its validity window, not revoked,
matching the key, and a secret that opens with the key) before anything is written, so a
mix-up is caught at set-up, with the file named, instead of at the first call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from aidlink.gateway.state_files import private_directory
from aidlink.keys.identity import CertificatePolicy, CertificateRejected, NodeIdentity, load_certificate
from aidlink.keys.key_files import KeyFileError, load_private_key, write_private, write_public
from aidlink.keys.secret_file import SecretFileError, read_secret_file

CA_FILE = "ca.crt"
CERT_FILE = "node.crt"
KEY_FILE = "node.key"
CRL_FILE = "crl.pem"
SECRET_FILE = "linkage-secret.sealed"
SETTINGS_FILE = "gateway.toml"
REQUIRED_FILES = (CA_FILE, CERT_FILE, KEY_FILE, SECRET_FILE)


class NodeSetupError(ValueError):
    """The issued files do not make a node of this department; one line names the file and what to do."""


@dataclass(frozen=True)
class IssuedFiles:
    """What the custodian issued to one department node, wherever and however it is named."""

    ca: Path
    cert: Path
    key: Path
    secret: Path
    crl: Path | None = None


@dataclass(frozen=True)
class CheckedNode:
    identity: NodeIdentity
    secret_version: int


def find_issued_files(
    directory: Path,
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    secret: Path | None = None,
    crl: Path | None = None,
) -> IssuedFiles:
    """The issued files in ``directory`` as the custodian's commands name them; a file given overrides.

    ``ca.crt``; the one other ``*.crt`` (``<dept>-<division>.crt``) and the ``.key`` of the same stem;
    the one ``*.sealed``; ``crl.pem`` if there. Missing or ambiguous files are named.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise NodeSetupError(f"--issued {directory}: not a directory")

    def only(pattern: str, what: str, flag: str, exclude: tuple[str, ...] = ()) -> Path:
        found = sorted(p for p in directory.glob(pattern) if p.name not in exclude)
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise NodeSetupError(f"--issued {directory}: expected one {what} ({pattern}), found {names}; give {flag}")
        return found[0]

    ca = ca or (directory / CA_FILE)
    cert = cert or only("*.crt", "node certificate", "--cert", exclude=(CA_FILE,))
    key = key or cert.with_suffix(".key")
    secret = secret or only("*.sealed", "sealed linkage secret", "--secret")
    if crl is None and (directory / CRL_FILE).exists():
        crl = directory / CRL_FILE
    return IssuedFiles(ca, cert, key, secret, crl)


def _read(path: Path, what: str, flag: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise NodeSetupError(f"{path}: cannot read the {what} ({exc.strerror or exc}); check {flag}") from None


def check_node_certificate(
    department: str,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    *,
    cert_path: Path,
    key_path: Path,
    crl_pem: bytes | None = None,
) -> NodeIdentity:
    """The certificate's identity if it is a valid node certificate of ``department`` matching the key."""
    try:
        identity = CertificatePolicy(ca_pem, crl_pem, kinds={"node"}).check(cert_pem)
    except CertificateRejected as exc:
        raise NodeSetupError(f"{cert_path}: {exc}; ask the custodian for a valid node certificate") from None
    except ValueError as exc:  # the CA certificate or the CRL does not parse
        raise NodeSetupError(f"the CA certificate or revocation list: {exc}") from None
    if identity.department != department:
        raise NodeSetupError(
            f"{cert_path} is the node certificate of {identity.department} ({identity.uri}), not of {department}: "
            f"use {department}'s node certificate (aidlink keys issue-node {department} …)"
        )
    try:
        key = load_private_key(key_pem, None, what=str(key_path))
    except KeyFileError as exc:
        raise NodeSetupError(str(exc)) from None
    public = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != load_certificate(cert_pem).public_key().public_bytes(*public):
        raise NodeSetupError(
            f"{key_path} is not the private key of {cert_path} ({identity.uri}): give the key issued with that certificate"
        )
    return identity


def check_node_credentials(department: str, files: IssuedFiles) -> CheckedNode:
    """Check the issued files belong together; raise :class:`NodeSetupError` naming the first that does not."""
    ca_pem = _read(files.ca, "CA certificate", "--ca")
    cert_pem = _read(files.cert, "node certificate", "--cert")
    key_pem = _read(files.key, "node private key", "--key")
    crl_pem = _read(files.crl, "revocation list", "--crl") if files.crl else None
    identity = check_node_certificate(
        department, ca_pem, cert_pem, key_pem, cert_path=files.cert, key_path=files.key, crl_pem=crl_pem
    )
    _read(files.secret, "sealed linkage secret", "--secret")
    try:
        secret = read_secret_file(files.secret, node_key_pem=key_pem, node_cert_pem=cert_pem, sealed_only=True)
    except SecretFileError as exc:
        raise NodeSetupError(f"{exc}; or ask the custodian to seal the secret to {files.cert}") from None
    return CheckedNode(identity, secret.version)


def check_node_directory(node_dir: Path, department: str) -> NodeIdentity:
    """At `gateway serve` start-up: NODE_DIR's certificate is a valid node certificate of ``department``."""
    return check_node_certificate(
        department,
        _read(node_dir / CA_FILE, "CA certificate", "--node-dir"),
        _read(node_dir / CERT_FILE, "node certificate", "--node-dir"),
        _read(node_dir / KEY_FILE, "node private key", "--node-dir"),
        cert_path=node_dir / CERT_FILE,
        key_path=node_dir / KEY_FILE,
    )


def settings_text(department: str, node_dir: Path, matcher: str, matcher_name: str | None) -> str:
    """`gateway serve --config` settings for this node (keys named like its flags)."""
    lines = [
        f"department = {_toml_string(department)}",
        f"node_dir = {_toml_string(str(node_dir.resolve()))}",
        f"matcher = {_toml_string(matcher)}",
    ]
    if matcher_name:
        lines.append(f"matcher_name = {_toml_string(matcher_name)}")
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_node_directory(
    department: str,
    node_dir: Path,
    files: IssuedFiles,
    *,
    matcher: str,
    matcher_name: str | None = None,
    force: bool = False,
) -> CheckedNode:
    """Check ``files`` and lay them out in ``node_dir`` (0700; the key 0600) with a settings file."""
    checked = check_node_credentials(department, files)
    node_dir = Path(node_dir)
    present = [n for n in (*REQUIRED_FILES, SETTINGS_FILE) if (node_dir / n).exists()]
    if present and not force:
        raise NodeSetupError(
            f"{node_dir} already holds {', '.join(present)}; pass --force to replace them or choose another --node-dir"
        )
    private_directory(node_dir)
    write_public(node_dir / CA_FILE, files.ca.read_bytes(), overwrite=True)
    write_public(node_dir / CERT_FILE, files.cert.read_bytes(), overwrite=True)
    write_private(node_dir / KEY_FILE, files.key.read_bytes(), overwrite=True)
    write_private(node_dir / SECRET_FILE, files.secret.read_bytes(), overwrite=True)
    if files.crl is not None:
        write_public(node_dir / CRL_FILE, files.crl.read_bytes(), overwrite=True)
    write_public(
        node_dir / SETTINGS_FILE, settings_text(department, node_dir, matcher, matcher_name).encode(), overwrite=True
    )
    return checked
