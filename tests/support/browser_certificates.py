"""Client certificates for a real headless Chromium: an NSS database under a throwaway HOME
(the custodian's CA trusted, the certificate and key imported with `pk12util`), and Chromium's
`AutoSelectCertificateForUrls` policy so the browser presents it to https://127.0.0.1 without
a prompt.

Chromium on Linux reads policies only from /etc/chromium/policies/managed, so the policy needs
root (CI runs as root); `installed_policy` yields False where it cannot be written, and the tests
then reach the console through tests/support/client_cert_proxy.py instead.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12

POLICY_DIR = Path("/etc/chromium/policies/managed")
POLICY_FILE = POLICY_DIR / "aidlink-console-tests.json"
PATTERN = "https://127.0.0.1"


def nss_tools_available() -> bool:
    return bool(shutil.which("certutil") and shutil.which("pk12util"))


@contextlib.contextmanager
def installed_policy() -> Iterator[bool]:
    """The auto-select policy for https://127.0.0.1, removed on exit; False if it cannot be written."""
    if not nss_tools_available():
        yield False
        return
    try:
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        rule = json.dumps({"pattern": PATTERN, "filter": {}})
        POLICY_FILE.write_text(json.dumps({"AutoSelectCertificateForUrls": [rule]}), encoding="utf-8")
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        POLICY_FILE.unlink(missing_ok=True)


def browser_home(home: Path, ca_cert: Path, cert: Path | None = None, key: Path | None = None) -> Path:
    """A HOME whose NSS database trusts `ca_cert` and holds `cert` with its `key` (none: no client certificate)."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    db = f"sql:{nssdb}"
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        ["certutil", "-A", "-d", db, "-n", "aidlink custodian CA", "-t", "C,,", "-i", str(ca_cert)],
        check=True,
        capture_output=True,
    )
    if cert is not None and key is not None:
        bundle = pkcs12.serialize_key_and_certificates(
            b"aidlink client",
            load_pem_private_key(key.read_bytes(), None),  # type: ignore[arg-type]
            x509.load_pem_x509_certificate(cert.read_bytes()),
            None,
            BestAvailableEncryption(b"test"),
        )
        p12 = home / "client.p12"
        p12.write_bytes(bundle)
        subprocess.run(["pk12util", "-i", str(p12), "-d", db, "-W", "test"], check=True, capture_output=True)
        p12.unlink()
    return home
