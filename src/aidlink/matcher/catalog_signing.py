"""Signed catalog publication (Art. 7): a new catalog version is made jointly with civil affairs.

A catalog version is published only with signatures, over the exact bytes of its TOML
file, by a node certificate of mca (the lead department) and by a node certificate of
every provider whose entries the version adds, changes or withdraws relative to the
latest published version. Each signer's certificate must be issued by the custodian CA,
be within its validity window and not be on the CRL; the department is read from the
certificate (its aidlink:// identity), never from a string the publisher types.

A signature is made with the node's own key (`aidlink catalog sign`), ECDSA P-256 with
SHA-256 (the custodian issues EC keys) or Ed25519, over a context label followed by the
file's bytes, so it cannot be replayed as a signature of anything else. The signatures
(certificate + signature) are stored with the version and can be re-verified later.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aidlink.keys.identity import CertificatePolicy, CertificateRejected, load_certificate
from aidlink.matcher.catalog import Catalog, CatalogEntry, CatalogError, diff

LEAD_DEPARTMENT = "mca"
CONTEXT = b"aidlink catalog publication v1\n"
FORMAT = "aidlink catalog signature v1"


class CatalogSignatureError(CatalogError):
    """A catalog publication is not signed as Art. 7 requires; the message says which signature or signer."""


@dataclass(frozen=True)
class CatalogSignature:
    """One department's signature over a catalog file's exact bytes."""

    version: str
    catalog_sha256: str
    certificate_pem: str
    signature: bytes

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": self.version,
            "catalog_sha256": self.catalog_sha256,
            "certificate": self.certificate_pem,
            "signature": base64.b64encode(self.signature).decode(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: object, where: str) -> CatalogSignature:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CatalogSignatureError(
                f"{where}: not an aidlink catalog signature (format {FORMAT!r}); make one with aidlink catalog sign"
            )
        try:
            return cls(
                str(data["version"]),
                str(data["catalog_sha256"]),
                str(data["certificate"]),
                base64.b64decode(str(data["signature"]), validate=True),
            )
        except (KeyError, ValueError) as exc:
            raise CatalogSignatureError(f"{where}: damaged catalog signature ({exc})") from None

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> CatalogSignature:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise CatalogSignatureError(
                f"{where}: not an aidlink catalog signature (not JSON); "
                f"a department name or other string is not a signature"
            ) from None
        return cls.from_dict(data, where)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign_catalog(document: bytes, key, cert_pem: bytes) -> CatalogSignature:
    """Sign catalog file bytes with a node's private key (after checking the file is a valid catalog)."""
    catalog = Catalog.parse(document.decode("utf-8"), "catalog file")
    message = CONTEXT + document
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(message)
    else:
        raise CatalogSignatureError(f"a {type(key).__name__} cannot sign a catalog (EC or Ed25519 keys only)")
    return CatalogSignature(catalog.version, sha256_hex(document), cert_pem.decode("ascii"), signature)


@dataclass(frozen=True)
class Signer:
    department: str
    uri: str
    serial: int


def required_signers(catalog: Catalog, previous: Catalog | None) -> dict[str, list[str]]:
    """Department -> why it must sign: mca always; each provider of an entry added, changed or
    withdrawn relative to `previous` (a provider changing hands: both)."""
    need: dict[str, list[str]] = {LEAD_DEPARTMENT: ["the lead department (Art. 7)"]}
    changes: list[tuple[str, str, CatalogEntry | None, CatalogEntry | None]]
    if previous is None:
        changes = [(e.id, "added", None, e) for e in catalog.entries.values()]
    else:
        changes = [
            (c.entry_id, c.kind, previous.entries.get(c.entry_id), catalog.entries.get(c.entry_id))
            for c in diff(previous, catalog).changes
        ]
    for entry_id, kind, old, new in changes:
        for entry in (old, new):
            if entry is not None and entry.provider != LEAD_DEPARTMENT:
                reason = f"entry {entry_id} {kind}"
                if reason not in need.setdefault(entry.provider, []):
                    need[entry.provider].append(reason)
    return need


def verify_publication(
    document: bytes,
    signatures: Sequence[CatalogSignature],
    policy: CertificatePolicy,
    previous: Catalog | None,
    *,
    now: datetime | None = None,
) -> tuple[Catalog, list[Signer]]:
    """The catalog `document` holds and who signed it; CatalogSignatureError if the signatures do
    not verify or a required department has not signed."""
    catalog = Catalog.parse(document.decode("utf-8"), "catalog file")
    digest = sha256_hex(document)
    if not signatures:
        raise CatalogSignatureError(
            f"catalog version {catalog.version} is not signed: a new version needs a signature by "
            f"{LEAD_DEPARTMENT}'s node certificate (and by each provider whose entries change); make them "
            f"with aidlink catalog sign and give them with --signature (an --approved-by name is not enough)"
        )
    signers: list[Signer] = []
    for n, sig in enumerate(signatures, start=1):
        where = f"signature {n}"
        try:
            cert = load_certificate(sig.certificate_pem.encode("ascii"))
        except ValueError as exc:
            raise CatalogSignatureError(f"{where}: its certificate is unreadable: {exc}") from None
        try:
            identity = policy.check(cert, now=now)
        except CertificateRejected as exc:
            raise CatalogSignatureError(f"{where}: {exc}") from None
        who = f"{where} (by {identity.department}, {identity.describe()})"
        if sig.catalog_sha256 != digest or sig.version != catalog.version:
            raise CatalogSignatureError(
                f"{who} was made over different bytes (catalog version {sig.version}, sha256 "
                f"{sig.catalog_sha256[:16]}…), not this file (version {catalog.version}, sha256 {digest[:16]}…)"
            )
        public = cert.public_key()
        try:
            if isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(sig.signature, CONTEXT + document, ec.ECDSA(hashes.SHA256()))
            elif isinstance(public, ed25519.Ed25519PublicKey):
                public.verify(sig.signature, CONTEXT + document)
            else:
                raise CatalogSignatureError(f"{who}: a {type(public).__name__} key cannot sign catalogs")
        except InvalidSignature:
            raise CatalogSignatureError(
                f"{who} does not verify over this file's bytes (sha256 {digest[:16]}…): "
                f"the file was changed after signing, or the signature is forged"
            ) from None
        signers.append(Signer(identity.department or "", identity.uri, identity.serial))
    signed = {s.department for s in signers}
    missing = {d: why for d, why in required_signers(catalog, previous).items() if d not in signed}
    if missing:
        base = f" (relative to published version {previous.version})" if previous is not None else ""
        raise CatalogSignatureError(
            f"catalog version {catalog.version} lacks the signature of "
            + "; ".join(f"{d} ({', '.join(why)})" for d, why in sorted(missing.items()))
            + f"{base}; signed by: {', '.join(sorted(signed))}"
        )
    return catalog, signers
