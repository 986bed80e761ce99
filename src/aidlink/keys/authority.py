"""The custodian's certificate authority: issues node, matcher, officer and department-system certificates;
revokes them.

A CA directory holds ``ca.crt``, ``ca.key`` (0o600, encrypted when a passphrase is given),
``issued/<serial>.crt`` (a copy of every certificate issued, no keys) and ``revocations.json``.
All keys are ECDSA P-256, which gRPC (BoringSSL) handles well and HPKE can seal to.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aidlink.keys.identity import (
    MATCHER_COMMON_NAME,
    MATCHER_URI,
    NodeIdentity,
    identity_from_pem,
    node_common_name,
    node_uri,
    officer_common_name,
    officer_uri,
    system_common_name,
    system_uri,
)
from aidlink.keys.key_files import (
    KeyFileError,
    ensure_directory,
    load_private_key,
    read_file,
    write_private,
    write_public,
)

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
ISSUED_DIRECTORY = "issued"
REVOCATIONS_FILE = "revocations.json"
DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")
# Backdate not_before a little so peers with slightly slow clocks accept a fresh certificate.
CLOCK_SKEW = timedelta(minutes=5)
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class CertificateAuthorityError(Exception):
    """The CA cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class IssuedCertificate:
    """A freshly issued certificate and its private key (unencrypted PKCS#8 PEM, for gRPC)."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    serial: int

    @property
    def identity(self) -> NodeIdentity:
        return identity_from_pem(self.cert_pem)

    def write(
        self, directory: Path, stem: str, passphrase: bytes | None = None, *, overwrite: bool = False
    ) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` (0o600; encrypted if ``passphrase``); return both paths."""
        directory = Path(directory)
        key_pem = self.key_pem
        if passphrase is not None:
            key = serialization.load_pem_private_key(self.key_pem, password=None)
            key_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(_check_passphrase(passphrase)),
            )
        key_path = write_private(directory / f"{stem}.key", key_pem, overwrite=overwrite)
        cert_path = write_public(directory / f"{stem}.crt", self.cert_pem, overwrite=overwrite)
        return cert_path, key_path


@dataclass(frozen=True)
class IssuedRecord:
    """What the CA remembers about a certificate it issued (no key material)."""

    serial: int
    common_name: str
    uri: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    revocation_reason: str | None


class CertificateAuthority:
    """A loaded CA: use :meth:`create` or :meth:`load`, never the constructor."""

    def __init__(self, directory: Path, certificate: x509.Certificate, private_key: ec.EllipticCurvePrivateKey) -> None:
        self.directory = Path(directory)
        self.certificate = certificate
        self._key = private_key

    def __repr__(self) -> str:
        return f"CertificateAuthority(directory={str(self.directory)!r}, subject={self.certificate.subject.rfc4514_string()!r})"

    # -- creating and loading -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        name: str = "aidlink custodian CA",
        passphrase: bytes | None = None,
        validity_days: int = 3650,
    ) -> CertificateAuthority:
        """Create a new CA in ``directory``; refuse if one is already there."""
        directory = Path(directory)
        if (directory / CA_KEY_FILE).exists() or (directory / CA_CERT_FILE).exists():
            raise CertificateAuthorityError(f"a CA already exists in {directory}; refusing to replace it")
        _check_days("validity_days", validity_days)
        if not name.strip():
            raise CertificateAuthorityError("CA name must not be empty")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aidlink"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(_check_passphrase(passphrase))
            if passphrase is not None
            else serialization.NoEncryption()
        )
        ensure_directory(directory, private=True)
        write_private(
            directory / CA_KEY_FILE,
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption),
        )
        write_public(directory / CA_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
        ensure_directory(directory / ISSUED_DIRECTORY)
        return cls(directory, cert, key)

    @classmethod
    def load(cls, directory: Path, passphrase: bytes | None = None) -> CertificateAuthority:
        """Load the CA in ``directory``; a protected key needs the right ``passphrase``."""
        directory = Path(directory)
        try:
            cert_pem = read_file(directory / CA_CERT_FILE, "CA certificate")
            key_pem = read_file(directory / CA_KEY_FILE, "CA private key")
            key = load_private_key(key_pem, passphrase, what=f"CA key at {directory / CA_KEY_FILE}")
        except KeyFileError as exc:
            raise CertificateAuthorityError(str(exc)) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateAuthorityError(f"CA key at {directory / CA_KEY_FILE} is not an EC key")
        cert = x509.load_pem_x509_certificate(cert_pem)
        if cert.public_key() != key.public_key():
            raise CertificateAuthorityError(
                f"CA key at {directory / CA_KEY_FILE} does not belong to the certificate {directory / CA_CERT_FILE}"
            )
        return cls(directory, cert, key)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint_sha256(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    # -- issuing --------------------------------------------------------------------------

    def issue_node(
        self,
        department: str,
        *,
        level: str,
        division_code: str,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        validity_days: int = 365,
        not_before: datetime | None = None,
    ) -> IssuedCertificate:
        """A client+server TLS certificate for a department gateway node.

        Subject ``O=aidlink, OU=<department>, CN=<department>.<division_code>.node.aidlink``;
        the identity is the SAN URI ``aidlink://node/<department>/<level>/<division_code>``.
        """
        try:
            uri = node_uri(department, level, division_code)
        except ValueError as exc:
            raise CertificateAuthorityError(f"cannot issue node certificate: {exc}") from None
        return self._issue(
            unit=department,
            common_name=node_common_name(department, division_code),
            uri=uri,
            hosts=hosts,
            server=True,
            validity_days=validity_days,
            not_before=not_before,
        )

    def issue_matcher(
        self,
        *,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        validity_days: int = 365,
        not_before: datetime | None = None,
    ) -> IssuedCertificate:
        """A server+client TLS certificate for the central matcher (SAN URI ``aidlink://matcher``)."""
        return self._issue(
            unit="matcher",
            common_name=MATCHER_COMMON_NAME,
            uri=MATCHER_URI,
            hosts=hosts,
            server=True,
            validity_days=validity_days,
            not_before=not_before,
        )

    def issue_officer(
        self, name: str, *, validity_days: int = 365, not_before: datetime | None = None
    ) -> IssuedCertificate:
        """A client-only certificate for a security officer reading the audit trail (``aidlink://officer/<name>``)."""
        try:
            uri, cn = officer_uri(name), officer_common_name(name)
        except ValueError as exc:
            raise CertificateAuthorityError(f"cannot issue officer certificate: {exc}") from None
        return self._issue(
            unit="officer",
            common_name=cn,
            uri=uri,
            hosts=(),
            server=False,
            validity_days=validity_days,
            not_before=not_before,
        )

    def issue_system(
        self, department: str, name: str, *, validity_days: int = 365, not_before: datetime | None = None
    ) -> IssuedCertificate:
        """A client-only certificate for one of a department's own systems (a caseworker application)
        calling its department's gateway node over mTLS (``aidlink://system/<department>/<name>``).
        The node admits only systems of its own department; the matcher admits no system at all."""
        try:
            uri, cn = system_uri(department, name), system_common_name(department, name)
        except ValueError as exc:
            raise CertificateAuthorityError(f"cannot issue system certificate: {exc}") from None
        return self._issue(
            unit=department,
            common_name=cn,
            uri=uri,
            hosts=(),
            server=False,
            validity_days=validity_days,
            not_before=not_before,
        )

    def _issue(
        self,
        *,
        unit: str,
        common_name: str,
        uri: str,
        hosts: Sequence[str],
        server: bool,
        validity_days: int,
        not_before: datetime | None,
    ) -> IssuedCertificate:
        try:
            _check_days("validity_days", validity_days)
        except CertificateAuthorityError as exc:
            raise CertificateAuthorityError(f"cannot issue {common_name}: {exc}") from None
        if isinstance(hosts, str):
            raise CertificateAuthorityError(f"hosts must be a sequence of names, not the string {hosts!r}")
        if server and not hosts:
            raise CertificateAuthorityError(f"cannot issue {common_name}: a server certificate needs at least one host")
        if not_before is None:
            start = datetime.now(UTC) - CLOCK_SKEW
        elif not_before.tzinfo is None:
            raise CertificateAuthorityError(f"not_before={not_before!r} has no timezone; pass an aware datetime")
        else:
            start = not_before.astimezone(UTC)
        end = start + timedelta(days=validity_days)
        if end > self.certificate.not_valid_after_utc:
            raise CertificateAuthorityError(
                f"cannot issue {common_name}: it would be valid until {end:%Y-%m-%d}, after the CA itself "
                f"expires ({self.certificate.not_valid_after_utc:%Y-%m-%d}); use fewer validity_days"
            )
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
        names.extend(_host_name(host, common_name) for host in hosts)
        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aidlink"),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    # key_agreement: nodes also receive the linkage secret sealed (ECDH) to this key.
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        write_public(self.directory / ISSUED_DIRECTORY / f"{cert.serial_number:x}.crt", cert_pem)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return IssuedCertificate(cert_pem=cert_pem, key_pem=key_pem, serial=cert.serial_number)

    # -- revocation -----------------------------------------------------------------------

    def issued(self) -> list[IssuedRecord]:
        """Every certificate this CA issued, oldest first, with its revocation state."""
        return issued_certificates(self.directory)

    def revoke(self, serial: int, reason: str = "unspecified", *, when: datetime | None = None) -> IssuedRecord:
        """Revoke a certificate this CA issued; recorded in ``revocations.json`` for :meth:`crl_pem`."""
        flag = _reason_flag(reason)
        key = f"{serial:x}"
        if not (self.directory / ISSUED_DIRECTORY / f"{key}.crt").exists():
            raise CertificateAuthorityError(f"serial {serial:#x} was not issued by this CA ({self.directory})")
        state = self._revocations()
        if key in state["revoked"]:
            entry = state["revoked"][key]
            raise CertificateAuthorityError(
                f"serial {serial:#x} is already revoked (at {entry['revoked_at']}, reason {entry['reason']})"
            )
        if when is not None and when.tzinfo is None:
            raise CertificateAuthorityError(f"when={when!r} has no timezone; pass an aware datetime")
        moment = (when or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        state["revoked"][key] = {"revoked_at": moment.isoformat(), "reason": flag.name}
        self._save_revocations(state)
        return next(r for r in self.issued() if r.serial == serial)

    def crl_pem(self, *, next_update_days: int = 7, now: datetime | None = None) -> bytes:
        """A CRL of every revoked certificate, signed by this CA, valid for ``next_update_days``."""
        _check_days("next_update_days", next_update_days)
        if now is not None and now.tzinfo is None:
            raise CertificateAuthorityError(f"now={now!r} has no timezone; pass an aware datetime")
        now = (now or datetime.now(UTC)).astimezone(UTC)
        state = self._revocations()
        state["crl_number"] += 1
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - CLOCK_SKEW)
            .next_update(now + timedelta(days=next_update_days))
            .add_extension(x509.CRLNumber(state["crl_number"]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        )
        for key, entry in sorted(state["revoked"].items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(key, 16))
                .revocation_date(datetime.fromisoformat(entry["revoked_at"]))
                .add_extension(x509.CRLReason(x509.ReasonFlags[entry["reason"]]), critical=False)
                .build()
            )
        crl = builder.sign(self._key, hashes.SHA256())
        self._save_revocations(state)
        return crl.public_bytes(serialization.Encoding.PEM)

    def _revocations(self) -> dict:
        return _load_revocations(self.directory)

    def _save_revocations(self, state: dict) -> None:
        text = json.dumps(state, indent=2, sort_keys=True) + "\n"
        write_public(self.directory / REVOCATIONS_FILE, text.encode("utf-8"), overwrite=True)


def issued_certificates(directory: Path) -> list[IssuedRecord]:
    """What the CA in ``directory`` issued, oldest first, with revocation state; needs no CA key."""
    directory = Path(directory)
    revoked = _load_revocations(directory)["revoked"]
    records = []
    for path in (directory / ISSUED_DIRECTORY).glob("*.crt"):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        identity = identity_from_pem(cert)
        entry = revoked.get(f"{cert.serial_number:x}")
        records.append(
            IssuedRecord(
                serial=cert.serial_number,
                common_name=identity.common_name,
                uri=identity.uri,
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                revoked_at=datetime.fromisoformat(entry["revoked_at"]) if entry else None,
                revocation_reason=entry["reason"] if entry else None,
            )
        )
    return sorted(records, key=lambda r: (r.not_before, r.serial))


def _load_revocations(directory: Path) -> dict:
    path = Path(directory) / REVOCATIONS_FILE
    if not path.exists():
        return {"crl_number": 0, "revoked": {}}
    return json.loads(path.read_text(encoding="utf-8"))


REVOCATION_REASONS: tuple[str, ...] = tuple(
    flag.name for flag in x509.ReasonFlags if flag is not x509.ReasonFlags.remove_from_crl
)


def _reason_flag(reason: str) -> x509.ReasonFlags:
    for flag in x509.ReasonFlags:
        if flag is not x509.ReasonFlags.remove_from_crl and reason in (
            flag.name,
            flag.value,
            flag.name.replace("_", "-"),
        ):
            return flag
    raise CertificateAuthorityError(
        f"unknown revocation reason {reason!r}; expected one of: {', '.join(REVOCATION_REASONS)}"
    )


def _host_name(host: str, common_name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not isinstance(host, str) or not _HOSTNAME.fullmatch(host.lower()):
        raise CertificateAuthorityError(
            f"cannot issue {common_name}: host {host!r} is neither an IP address nor a lowercase DNS name"
        )
    return x509.DNSName(host.lower())


def _check_days(name: str, days: int) -> None:
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise CertificateAuthorityError(f"{name} must be a whole number of days >= 1, got {days!r}")


def _check_passphrase(passphrase: bytes) -> bytes:
    if not isinstance(passphrase, bytes) or not passphrase:
        raise CertificateAuthorityError("passphrase must be non-empty bytes")
    return passphrase
