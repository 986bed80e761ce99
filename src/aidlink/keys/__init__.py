"""Key custody for aidlink: the CA and node certificates, peer identities, the linkage secret, the audit key.

A safe high-level API over ``cryptography``: callers pass certificates and get identities,
pass secrets and certificates and get sealed blobs (one recipe, :mod:`aidlink.keys.sealing`,
for every use, each with its own :class:`SealPurpose`); key material never shows in a repr.
"""

from aidlink.keys.audit_key import AuditKeyError, AuditSigningKey, audit_key_id, load_audit_public_key
from aidlink.keys.authority import (
    CertificateAuthority,
    CertificateAuthorityError,
    IssuedCertificate,
    IssuedRecord,
    issued_certificates,
)
from aidlink.keys.departments import DEPARTMENTS, LEVELS
from aidlink.keys.identity import (
    CertificatePolicy,
    CertificateRejected,
    IdentityError,
    NodeIdentity,
    check_certificate,
    identity_from_pem,
)
from aidlink.keys.key_files import KeyFileError
from aidlink.keys.linkage_secret import (
    LinkageSecret,
    SealedSecretError,
    SealedSecretHeader,
    open_sealed,
    read_sealed_header,
    seal,
)
from aidlink.keys.sealing import SealError, SealPurpose
from aidlink.keys.secret_store import SecretStore, SecretStoreError, SecretVersionInfo

__all__ = [
    "DEPARTMENTS",
    "LEVELS",
    "AuditKeyError",
    "AuditSigningKey",
    "CertificateAuthority",
    "CertificateAuthorityError",
    "CertificatePolicy",
    "CertificateRejected",
    "IdentityError",
    "IssuedCertificate",
    "IssuedRecord",
    "KeyFileError",
    "LinkageSecret",
    "NodeIdentity",
    "SealedSecretError",
    "SealError",
    "SealPurpose",
    "SealedSecretHeader",
    "SecretStore",
    "SecretStoreError",
    "SecretVersionInfo",
    "audit_key_id",
    "check_certificate",
    "identity_from_pem",
    "issued_certificates",
    "load_audit_public_key",
    "open_sealed",
    "read_sealed_header",
    "seal",
]
