"""Who may call a gateway node's API, and how they reach it.

Three ways in, each named by the address the node serves:

* **a Unix domain socket** (always; by default ``unix:DATA_DIR/node.sock``): the socket file is
  0600 inside the 0700 state directory, so only the node's own OS user (and root) can connect; the
  filesystem is the access control. Callers are logged as ``unix-socket``.
* **TCP with mTLS** (``--listen HOST:PORT``): the node presents its own certificate and admits only
  client certificates of *its own department's systems* (``aidlink keys issue-system``), issued by
  the custodian CA and not revoked (the node's ``crl.pem``, re-read when it changes; missing,
  corrupt or expired: every call refused UNAVAILABLE). Another department's system, any node and
  any officer certificate are refused, and the refusal is logged.
* **plaintext TCP**, only with ``--insecure-dev`` (development on loopback; it warns).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from aidlink.keys.identity import (
    CertificatePolicy,
    CertificateRejected,
    IdentityError,
    RevocationUnknown,
    identity_from_pem,
)
from aidlink.keys.key_files import PRIVATE_FILE_MODE
from aidlink.matcher.revocation import RevocationUnavailable

SOCKET_FILE = "node.sock"
# sockaddr_un.sun_path holds 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107
UNIX_CALLER = "unix-socket"
INSECURE_CALLER = "insecure-dev (unauthenticated plaintext TCP)"


def default_socket(data_dir: Path) -> Path:
    """Where a node with state in ``data_dir`` serves its API by default."""
    return Path(data_dir) / SOCKET_FILE


def check_socket_path(path: Path) -> Path:
    path = Path(path).absolute()
    if len(os.fsencode(str(path))) > MAX_SOCKET_PATH:
        raise ValueError(
            f"the node's socket path {path} is {len(os.fsencode(str(path)))} bytes; a Unix socket path can "
            f"hold at most {MAX_SOCKET_PATH}: give a shorter --socket"
        )
    return path


def is_loopback(listen: str) -> bool:
    """Whether ``host:port`` names a loopback address (the only place plaintext may listen)."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def narrow_socket(path: Path) -> None:
    """The socket file is 0600 (its 0700 directory already keeps others out)."""
    os.chmod(path, PRIVATE_FILE_MODE)


class NodeRefusal(Exception):
    """A caller the node does not admit; answered with ``code`` and logged."""

    def __init__(self, code: grpc.StatusCode, message: str, identity: str) -> None:
        super().__init__(message)
        self.code, self.message, self.identity = code, message, identity


@dataclass(frozen=True)
class SystemTls:
    """The files the node's mTLS port uses: its own certificate and key, the custodian CA that
    issued its department's system certificates, and that CA's revocation list."""

    ca_cert: Path
    cert: Path
    key: Path
    crl: Path

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.ca_cert.read_bytes(),
            require_client_auth=True,
        )


class SystemAuthenticator:
    """mTLS callers: admitted only with a current certificate of a system of ``department``."""

    def __init__(self, department: str, ca_cert_pem: bytes, crl_pem: Callable[[], bytes]) -> None:
        self.department, self.ca_cert_pem, self.crl_pem = department, ca_cert_pem, crl_pem
        self._policy: CertificatePolicy | None = None
        self._policy_crl: bytes | None = None

    def _current_policy(self, presented: str) -> CertificatePolicy:
        try:
            crl = self.crl_pem()
            if self._policy is None or crl != self._policy_crl:
                self._policy, self._policy_crl = CertificatePolicy(self.ca_cert_pem, crl), crl
        except RevocationUnavailable as exc:
            raise NodeRefusal(grpc.StatusCode.UNAVAILABLE, str(exc), presented) from None
        except ValueError as exc:
            raise NodeRefusal(
                grpc.StatusCode.UNAVAILABLE,
                str(RevocationUnavailable(f"the certificate revocation list (crl.pem) is not usable: {exc}")),
                presented,
            ) from None
        return self._policy

    def __call__(self, context: grpc.ServicerContext) -> str:
        certs = context.auth_context().get("x509_pem_cert")
        if not certs:
            raise NodeRefusal(grpc.StatusCode.UNAUTHENTICATED, "no client certificate was presented", "(none)")
        presented = _presented(certs[0])
        policy = self._current_policy(presented)
        try:
            ident = policy.check(certs[0])
        except RevocationUnknown as exc:
            raise NodeRefusal(
                grpc.StatusCode.UNAVAILABLE,
                str(RevocationUnavailable(f"the certificate revocation list (crl.pem) expired at {exc.next_update}")),
                presented,
            ) from None
        except (CertificateRejected, IdentityError) as exc:
            raise NodeRefusal(grpc.StatusCode.UNAUTHENTICATED, f"authentication failed: {exc}", presented) from None
        verified = f"{ident.uri} serial=0x{ident.serial:x}"
        if ident.kind != "system":
            raise NodeRefusal(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{ident.uri} is a {ident.kind} identity; this node's API admits only systems of department "
                f"{self.department} (certificates from aidlink keys issue-system --department {self.department})",
                verified,
            )
        if ident.department != self.department:
            raise NodeRefusal(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{ident.uri} is a system of department {ident.department}; this is the node of {self.department}",
                verified,
            )
        return verified


def _presented(cert_pem: bytes | str) -> str:
    """What a presented certificate claims, for the log of a refusal (not verified)."""
    try:
        ident = identity_from_pem(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
    except (IdentityError, ValueError):
        return "(unverified certificate without an aidlink identity)"
    return f"{ident.uri} serial=0x{ident.serial:x} (unverified)"
