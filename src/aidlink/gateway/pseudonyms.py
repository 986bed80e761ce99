"""Keyed pseudonyms for identifiers that must link across departments but never
travel raw, such as household ids: HMAC-SHA256 under a key derived from the
linkage secret (HKDF, its own info label), so every node derives the same
pseudonym and the matcher, without the secret, cannot reverse or recompute it."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HOUSEHOLD_INFO = b"aidlink household-pseudonym v1"


class Pseudonyms:
    def __init__(self, secret: bytes) -> None:
        self._household_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HOUSEHOLD_INFO).derive(
            bytes(secret)
        )

    def household(self, household_id: str) -> str:
        """32 hex characters; '' for an empty id (no link rather than a shared bogus one)."""
        household_id = household_id.strip()
        if not household_id:
            return ""
        return hmac.new(self._household_key, household_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
