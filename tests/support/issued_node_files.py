"""What the key custodian hands one department node, written as `aidlink keys` names the files
(``<dept>-320000.crt/.key``, ``ca.crt``, ``crl.pem``, ``linkage-secret.sealed``)."""

from __future__ import annotations

from pathlib import Path

from aidlink.gateway.node_setup import IssuedFiles
from aidlink.keys.authority import CertificateAuthority
from aidlink.keys.linkage_secret import LinkageSecret, seal


def issue_node_files(
    ca: CertificateAuthority, secret: LinkageSecret, out: Path, department: str, **kwargs
) -> IssuedFiles:
    issued = ca.issue_node(department, level="province", division_code="320000", **kwargs)
    cert, key = issued.write(out, f"{department}-320000")
    (out / "ca.crt").write_bytes(ca.cert_pem)
    (out / "crl.pem").write_bytes(ca.crl_pem())
    (out / "linkage-secret.sealed").write_bytes(seal(secret, issued.cert_pem))
    return IssuedFiles(out / "ca.crt", cert, key, out / "linkage-secret.sealed", out / "crl.pem")
