"""TLS for the Dask cluster from aidlink's own certificates (Dask's Security settings).

Dask verifies that a peer's certificate chains to the configured CA but checks no
name: anyone holding a certificate from that CA can join the cluster or submit work
to it. Issue the cluster's certificates from a CA of their own (a second
``keys.authority.CertificateAuthority``), not from the CA that signs department nodes.
"""

from __future__ import annotations

from pathlib import Path

from distributed.security import Security

Pem = bytes | str | Path  # PEM contents, or the path of a PEM file


def _material(value: Pem, what: str) -> str:
    if isinstance(value, Path):
        if not value.is_file():
            raise FileNotFoundError(f"Dask TLS {what}: no file at {value}")
        return str(value)
    text = value.decode("ascii") if isinstance(value, bytes) else value
    if "-----BEGIN" not in text:
        if "\n" not in text and Path(text).is_file():
            return text
        raise ValueError(f"Dask TLS {what}: expected PEM contents or a file path; got {text[:40]!r}")
    return text  # Dask treats a string containing newlines as in-memory PEM


def dask_security(
    ca: Pem, cert: Pem, key: Pem, *, roles: tuple[str, ...] = ("client", "scheduler", "worker")
) -> Security:
    """A ``distributed.security.Security`` requiring TLS, using one certificate for ``roles``.

    The matcher needs only the ``client`` role; a scheduler or worker its own. PEM may be
    given as bytes/str contents or as file paths (``Path``).
    """
    unknown = set(roles) - {"client", "scheduler", "worker"}
    if unknown or not roles:
        raise ValueError(f"roles must be among client, scheduler, worker; got {roles!r}")
    settings = {"tls_ca_file": _material(ca, "CA certificate")}
    cert_text, key_text = _material(cert, "certificate"), _material(key, "private key")
    for role in roles:
        settings[f"tls_{role}_cert"] = cert_text
        settings[f"tls_{role}_key"] = key_text
    return Security(require_encryption=True, **settings)
