"""Per-feature hashing keys derived from the linkage secret with HKDF (RFC 5869), as clkhash 0.18.

clkhash derives ``2 * number_of_features`` keys of ``keySize`` bytes in one HKDF call (ignored
features included) and gives feature ``i`` the pair ``(key[2i], key[2i+1])``: blakeHash uses the
first, doubleHash uses the first for HMAC-SHA1 and the second for HMAC-MD5.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEYS_PER_FEATURE = 2

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"SHA256": hashes.SHA256, "SHA512": hashes.SHA512}


@dataclass(frozen=True)
class KdfConfig:
    """The ``clkConfig.kdf`` section of a v3 schema (salt and info already base64-decoded)."""

    hash: str = "SHA256"
    salt: bytes | None = None
    info: bytes | None = None
    key_size: int = 64


def hkdf(secret: bytes, length: int, config: KdfConfig) -> bytes:
    """``length`` bytes of HKDF output keyed by ``secret``."""
    try:
        algorithm = _HASHES[config.hash]()
    except KeyError:
        raise ValueError(f"unsupported HKDF hash {config.hash!r}; expected one of {sorted(_HASHES)}") from None
    limit = 255 * algorithm.digest_size
    if length > limit:
        raise ValueError(f"HKDF-{config.hash} can derive at most {limit} bytes, {length} requested")
    return HKDF(algorithm=algorithm, length=length, salt=config.salt, info=config.info).derive(secret)


def derive_feature_keys(secret: bytes, num_features: int, config: KdfConfig) -> tuple[tuple[bytes, bytes], ...]:
    """One key pair per feature (ignored features included, in schema order)."""
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"the linkage secret must be bytes, got {type(secret).__name__}; "
            "clkhash encodes a str secret as UTF-8, so pass secret.encode('utf-8') to match it"
        )
    size = config.key_size
    material = hkdf(bytes(secret), KEYS_PER_FEATURE * num_features * size, config)
    keys = [material[i * size : (i + 1) * size] for i in range(KEYS_PER_FEATURE * num_features)]
    return tuple((keys[2 * i], keys[2 * i + 1]) for i in range(num_features))


SCOPE_INFO = b"aidlink key scope|"


def scoped_secret(secret: bytes, scope: bytes) -> bytes:
    """A 32-byte secret for one scope (e.g. an agreement and period): HKDF-SHA256 of the linkage
    secret with the scope in its info, so keys of different scopes are unrelated."""
    return hkdf(secret, 32, KdfConfig("SHA256", None, SCOPE_INFO + scope, 32))
