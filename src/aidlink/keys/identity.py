"""Who a peer certificate names, and whether this custodian's CA vouches for it right now.

Every certificate the custodian issues carries exactly one ``aidlink://`` URI in its
subjectAltName; that URI is the identity (department, level, division code), the subject
name only mirrors it. gRPC checks the chain during the TLS handshake; :class:`CertificatePolicy`
adds what the handshake does not: the CRL, the validity window at a chosen time and the SAN policy.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from aidlink.keys.departments import check_department, check_division

# "system": a department's own system (a caseworker application) calling its department's node API.
IdentityKind = Literal["node", "matcher", "officer", "system"]
KINDS: tuple[str, ...] = ("node", "matcher", "officer", "system")

URI_PREFIX = "aidlink://"
MATCHER_URI = "aidlink://matcher"
MATCHER_COMMON_NAME = "matcher.aidlink"
_OFFICER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")


class IdentityError(ValueError):
    """A certificate does not carry a well-formed aidlink identity."""


class CertificateRejected(Exception):
    """A peer certificate failed the custodian's policy; the message names it and says why."""

    def __init__(self, common_name: str, serial: int | None, reason: str) -> None:
        self.common_name = common_name
        self.serial = serial
        self.reason = reason
        serial_text = f"serial {serial:#x}" if serial is not None else "serial unknown"
        super().__init__(f"certificate CN={common_name}, {serial_text} rejected: {reason}")


class RevocationUnknown(CertificateRejected):
    """The revocation list is past its next-update time: whether the certificate was revoked since
    cannot be told. Not a verdict on the certificate; a fresh CRL is needed."""

    def __init__(self, common_name: str, serial: int | None, next_update: datetime) -> None:
        self.next_update = next_update
        super().__init__(
            common_name,
            serial,
            f"the revocation list expired at {_iso(next_update)}, so revocation cannot be "
            "ruled out; load a fresh CRL (aidlink keys crl)",
        )


def node_uri(department: str, level: str, division_code: str) -> str:
    """The SAN URI of a department gateway node, e.g. ``aidlink://node/mca/city/320900``."""
    check_department(department)
    check_division(level, division_code)
    return f"{URI_PREFIX}node/{department}/{level}/{division_code}"


def node_common_name(department: str, division_code: str) -> str:
    return f"{department}.{division_code}.node.aidlink"


def check_officer_name(name: str) -> str:
    """Officer names are lowercase ASCII ``[a-z0-9._-]``, 1-64 characters, e.g. ``wang.li``."""
    if not isinstance(name, str) or not _OFFICER_NAME.fullmatch(name):
        raise ValueError(
            f"officer name {name!r} must be 1-64 lowercase ASCII letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def officer_uri(name: str) -> str:
    return f"{URI_PREFIX}officer/{check_officer_name(name)}"


def officer_common_name(name: str) -> str:
    return f"{check_officer_name(name)}.officer.aidlink"


def check_system_name(name: str) -> str:
    """A department system's name (e.g. ``caseworker-app``): the same alphabet as officer names."""
    try:
        return check_officer_name(name)
    except ValueError:
        raise ValueError(
            f"system name {name!r} must be 1-64 lowercase ASCII letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        ) from None


def system_uri(department: str, name: str) -> str:
    """The SAN URI of a department's system, e.g. ``aidlink://system/mca/caseworker-app``."""
    return f"{URI_PREFIX}system/{check_department(department)}/{check_system_name(name)}"


def system_common_name(department: str, name: str) -> str:
    return f"{check_system_name(name)}.{check_department(department)}.system.aidlink"


@dataclass(frozen=True)
class NodeIdentity:
    """The aidlink identity a certificate carries."""

    kind: IdentityKind
    department: str | None
    level: str | None
    division_code: str | None
    serial: int
    common_name: str
    not_after: datetime
    officer_name: str | None  # an officer's name, or a department system's name
    fingerprint_sha256: str

    @property
    def uri(self) -> str:
        """The identity as its SAN URI; use it as the caller name in the audit log."""
        if self.kind == "node":
            return f"{URI_PREFIX}node/{self.department}/{self.level}/{self.division_code}"
        if self.kind == "officer":
            return f"{URI_PREFIX}officer/{self.officer_name}"
        if self.kind == "system":
            return f"{URI_PREFIX}system/{self.department}/{self.officer_name}"
        return MATCHER_URI

    def describe(self) -> str:
        return f"CN={self.common_name}, serial {self.serial:#x}"


def load_certificate(data: bytes | x509.Certificate) -> x509.Certificate:
    """Parse a PEM or DER certificate; raise ``ValueError`` naming what was wrong."""
    if isinstance(data, x509.Certificate):
        return data
    if isinstance(data, str):
        data = data.encode("ascii")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"not an X.509 certificate in PEM or DER form: {exc}") from None


def certificate_fingerprint(cert: bytes | x509.Certificate) -> bytes:
    """SHA-256 over the certificate's DER encoding (32 bytes)."""
    return load_certificate(cert).fingerprint(hashes.SHA256())


def common_name_of(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else "(no common name)"


def identity_from_pem(cert_pem: bytes | x509.Certificate) -> NodeIdentity:
    """Read the aidlink identity out of a certificate (PEM or DER); raise :class:`IdentityError`.

    This only parses. It does not say the certificate is trustworthy: use
    :class:`CertificatePolicy` for that.
    """
    try:
        cert = load_certificate(cert_pem)
    except ValueError as exc:
        raise IdentityError(str(exc)) from None
    cn = common_name_of(cert)
    where = f"certificate CN={cn}, serial {cert.serial_number:#x}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(URI_PREFIX)]
    except x509.ExtensionNotFound:
        uris = []
    if not uris:
        raise IdentityError(f"{where} carries no aidlink identity (no {URI_PREFIX}… URI in subjectAltName)")
    if len(uris) > 1:
        raise IdentityError(f"{where} carries {len(uris)} aidlink identities ({', '.join(uris)}); expected one")
    kind, department, level, division, officer = _parse_uri(uris[0], where)
    expected_cn = {
        "node": lambda: node_common_name(department or "", division or ""),
        "matcher": lambda: MATCHER_COMMON_NAME,
        "officer": lambda: officer_common_name(officer or ""),
        "system": lambda: system_common_name(department or "", officer or ""),
    }[kind]()
    if cn != expected_cn:
        raise IdentityError(f"{where}: common name does not match its identity {uris[0]} (expected CN={expected_cn})")
    return NodeIdentity(
        kind=kind,
        department=department,
        level=level,
        division_code=division,
        serial=cert.serial_number,
        common_name=cn,
        not_after=cert.not_valid_after_utc,
        officer_name=officer,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _parse_uri(uri: str, where: str) -> tuple[IdentityKind, str | None, str | None, str | None, str | None]:
    parts = uri[len(URI_PREFIX) :].split("/")
    try:
        if parts == ["matcher"]:
            return "matcher", None, None, None, None
        if parts[0] == "node" and len(parts) == 4:
            _, department, level, division = parts
            check_department(department)
            check_division(level, division)
            return "node", department, level, division, None
        if parts[0] == "officer" and len(parts) == 2:
            return "officer", None, None, None, check_officer_name(parts[1])
        if parts[0] == "system" and len(parts) == 3:
            return "system", check_department(parts[1]), None, None, check_system_name(parts[2])
    except ValueError as exc:
        raise IdentityError(f"{where}: malformed identity {uri}: {exc}") from None
    raise IdentityError(
        f"{where}: unrecognised identity {uri} (expected aidlink://node/<department>/<level>/<division>, "
        "aidlink://matcher, aidlink://officer/<name> or aidlink://system/<department>/<name>)"
    )


class CertificatePolicy:
    """What the custodian's CA vouches for: signature, validity window, CRL, aidlink SAN.

    Build once (it parses and checks the CA certificate and the CRL) and call :meth:`check`
    per peer; the matcher calls it from a gRPC interceptor with the peer's PEM or DER cert.
    ``kinds`` limits which identities are accepted (e.g. ``{"node", "officer"}``).
    A CRL past its next-update time makes every check fail: the policy cannot tell
    whether a certificate was revoked since, so it does not guess.
    """

    def __init__(
        self,
        ca_cert_pem: bytes,
        crl_pem: bytes | None = None,
        *,
        kinds: Collection[str] | None = None,
    ) -> None:
        self._ca = load_certificate(ca_cert_pem)
        self._ca_cn = common_name_of(self._ca)
        self._store = verification.Store([self._ca])
        unknown = set(kinds or ()) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown identity kinds {sorted(unknown)}; expected some of {list(KINDS)}")
        self._kinds = frozenset(kinds) if kinds is not None else frozenset(KINDS)
        self._crl = self._load_crl(crl_pem) if crl_pem is not None else None

    def _load_crl(self, crl_pem: bytes) -> x509.CertificateRevocationList:
        try:
            crl = (
                x509.load_pem_x509_crl(crl_pem)
                if crl_pem.lstrip().startswith(b"-----BEGIN")
                else x509.load_der_x509_crl(crl_pem)
            )
        except ValueError:
            raise ValueError(f"not a certificate revocation list in PEM or DER form ({len(crl_pem)} bytes)") from None
        ca_key = self._ca.public_key()
        if not isinstance(ca_key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
            raise ValueError(f"the CA's {type(ca_key).__name__} cannot sign a revocation list")
        if crl.issuer != self._ca.subject or not crl.is_signature_valid(ca_key):
            raise ValueError(
                f"revocation list issued by {crl.issuer.rfc4514_string()} is not signed by "
                f"this CA ({self._ca.subject.rfc4514_string()})"
            )
        return crl

    def check(self, cert: bytes | x509.Certificate, *, now: datetime | None = None) -> NodeIdentity:
        """Return the peer's identity, or raise :class:`CertificateRejected` saying why not."""
        now = _utc_now(now)
        try:
            peer = load_certificate(cert)
        except ValueError as exc:
            raise CertificateRejected("(unparseable)", None, str(exc)) from None
        cn, serial = common_name_of(peer), peer.serial_number

        def reject(reason: str) -> CertificateRejected:
            return CertificateRejected(cn, serial, reason)

        try:
            peer.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature):
            raise reject(
                f"not issued by this CA (issuer {peer.issuer.rfc4514_string()}; signature does not "
                f"verify with the key of CA {self._ca_cn}, fingerprint "
                f"{certificate_fingerprint(self._ca).hex()[:16]}…)"
            ) from None
        if _is_ca(peer):
            raise reject("is a CA certificate, not an end-entity identity")
        if now < peer.not_valid_before_utc:
            raise reject(f"not valid before {_iso(peer.not_valid_before_utc)} (checked at {_iso(now)})")
        if now > peer.not_valid_after_utc:
            raise reject(f"expired at {_iso(peer.not_valid_after_utc)} (checked at {_iso(now)})")
        if self._crl is not None:
            revoked = self._crl.get_revoked_certificate_by_serial_number(serial)
            if revoked is not None:
                raise reject(f"revoked at {_iso(revoked.revocation_date_utc)} (reason: {_reason(revoked)})")
            next_update = self._crl.next_update_utc
            if next_update is not None and now > next_update:
                raise RevocationUnknown(cn, serial, next_update)
        try:
            # Defence in depth: the library's RFC 5280 path validation (key usage, EKU clientAuth,
            # constraints) after the checks above, which exist to give the precise reasons.
            verifier = verification.PolicyBuilder().store(self._store).time(now).build_client_verifier()
            verifier.verify(peer, [])
        except verification.VerificationError as exc:
            raise reject(f"failed X.509 path validation against CA {self._ca_cn}: {exc}") from None
        try:
            identity = identity_from_pem(peer)
        except IdentityError as exc:
            raise reject(str(exc)) from None
        if identity.kind not in self._kinds:
            raise reject(f"is a {identity.kind} identity; accepted here: {', '.join(sorted(self._kinds))}")
        return identity


def check_certificate(
    cert_pem: bytes | x509.Certificate,
    ca_cert_pem: bytes,
    crl_pem: bytes | None = None,
    now: datetime | None = None,
) -> NodeIdentity:
    """One-shot :meth:`CertificatePolicy.check`; see there."""
    return CertificatePolicy(ca_cert_pem, crl_pem).check(cert_pem, now=now)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _reason(revoked: x509.RevokedCertificate) -> str:
    try:
        return revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except x509.ExtensionNotFound:
        return "unspecified"


def _utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now={now!r} has no timezone; pass an aware datetime (e.g. in UTC)")
    return now.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
