"""Signed catalog publications for tests: node certificates issued by a test CA sign a
catalog version's TOML bytes, as `aidlink catalog sign` does on each department's node."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.identity import CertificatePolicy
from aidlink.matcher.catalog import Catalog
from aidlink.matcher.catalog_signing import CatalogSignature, sign_catalog


class CatalogSigners:
    """A custodian CA and one node certificate per department that signs."""

    def __init__(self, directory: Path, ca: CertificateAuthority | None = None) -> None:
        self.ca = ca or CertificateAuthority.create(Path(directory) / "ca")
        self._issued: dict[str, tuple[bytes, bytes]] = {}

    def signature(self, document: bytes, department: str) -> CatalogSignature:
        if department not in self._issued:
            issued = self.ca.issue_node(department, level="province", division_code="320000")
            self._issued[department] = (issued.cert_pem, issued.key_pem)
        cert_pem, key_pem = self._issued[department]
        return sign_catalog(document, serialization.load_pem_private_key(key_pem, None), cert_pem)

    def policy(self) -> CertificatePolicy:
        return CertificatePolicy(self.ca.cert_pem, self.ca.crl_pem(), kinds={"node"})

    def publication(
        self, catalog: Catalog, departments: Sequence[str]
    ) -> tuple[bytes, list[CatalogSignature], CertificatePolicy]:
        """(document, signatures, policy): the arguments of CatalogStore.publish."""
        document = catalog.to_toml().encode("utf-8")
        return document, [self.signature(document, d) for d in departments], self.policy()
