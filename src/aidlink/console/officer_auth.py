"""Who is reading: the officer named by the verified client certificate, or a refusal.

The TLS layer (stdlib ``ssl``, CERT_REQUIRED, the custodian's CA) has already refused a client
without a certificate from this CA. Here the same identity policy and revocation list as the
matcher's apply (:class:`~aidlink.keys.identity.CertificatePolicy`,
:class:`~aidlink.matcher.revocation.RevocationListFile`), failing closed: no CRL, a CRL that does
not parse or has expired refuses everyone. Only officer certificates are admitted.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aidlink.keys.identity import CertificatePolicy, CertificateRejected, IdentityError, RevocationUnknown
from aidlink.matcher.revocation import RevocationUnavailable


@dataclass(frozen=True)
class Officer:
    identity: str  # certificate URI and serial, as the matcher writes it into the audit trail
    kind: str  # officer (anything else is refused before a page is shown)


class ConsoleRefusal(Exception):
    """The reader may not see the console; `status` is the gRPC-style status the audit entry records."""

    def __init__(self, status: str, http_status: int, message: str, identity: str = "") -> None:
        super().__init__(message)
        self.status, self.http_status, self.identity = status, http_status, identity


@dataclass(frozen=True)
class ConsoleTls:
    """The console's TLS files: the custodian's CA, the console's server certificate and key, the CRL."""

    ca_cert: Path
    cert: Path
    key: Path
    crl: Path

    @classmethod
    def in_directory(cls, directory: Path, name: str = "console") -> ConsoleTls:
        return cls(directory / "ca.crt", directory / f"{name}.crt", directory / f"{name}.key", directory / "crl.pem")

    def server_context(self) -> ssl.SSLContext:
        """TLS 1.2+ server context that requires a client certificate chaining to the custodian's CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


class OfficerAuthenticator:
    """Checks a verified peer certificate (PEM) against the CA, the CRL as it is now and the kind."""

    def __init__(self, ca_cert_pem: bytes, crl_pem: Callable[[], bytes]) -> None:
        self.ca_cert_pem, self.crl_pem = ca_cert_pem, crl_pem
        self._policy: CertificatePolicy | None = None
        self._policy_crl: bytes | None = None

    def _current_policy(self) -> CertificatePolicy:
        crl = self.crl_pem()  # raises RevocationUnavailable when missing or unreadable
        if self._policy is None or crl != self._policy_crl:
            try:
                policy = CertificatePolicy(self.ca_cert_pem, crl)
            except ValueError as exc:
                raise RevocationUnavailable(f"the certificate revocation list (crl.pem) is not usable: {exc}") from None
            self._policy, self._policy_crl = policy, crl
        return self._policy

    def __call__(self, peer_cert_pem: str | None) -> Officer:
        if not peer_cert_pem:
            raise ConsoleRefusal("UNAUTHENTICATED", 401, "no client certificate was presented")
        try:
            policy = self._current_policy()
            ident = policy.check(peer_cert_pem.encode())
        except RevocationUnavailable as exc:
            raise ConsoleRefusal("UNAVAILABLE", 503, str(exc)) from None
        except RevocationUnknown as exc:
            raise ConsoleRefusal(
                "UNAVAILABLE",
                503,
                f"revocation cannot be checked: the certificate revocation list (crl.pem) expired at "
                f"{exc.next_update:%Y-%m-%dT%H:%M:%SZ}",
            ) from None
        except (CertificateRejected, IdentityError) as exc:
            raise ConsoleRefusal("UNAUTHENTICATED", 403, f"authentication failed: {exc}") from None
        identity = f"{ident.uri} serial=0x{ident.serial:x}"
        if ident.kind != "officer":
            raise ConsoleRefusal(
                "PERMISSION_DENIED",
                403,
                f"{identity} is a {ident.kind} identity; the review console is for security officers",
                identity,
            )
        return Officer(identity, ident.kind)
