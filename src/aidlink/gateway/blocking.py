"""Keyed exact blocking tokens, computed at the node from a normalized person.

Each token is HMAC-SHA256 over a labelled combination of normalized values (the
resident ID; birth date + county; name pinyin + birth year; ...), under a key
derived from the linkage secret with HKDF and its own info label, truncated to
TOKEN_BYTES. The matcher sees only the tokens: equal tokens mean equal values,
nothing more (it never holds the key). Records sharing any token become
candidate pairs; the exact Dice score then decides.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aidlink.gateway.normalize.person import NormalizedPerson

BLOCKING_INFO = b"aidlink blocking-tokens v1"
TOKEN_BYTES = 8
_SEPARATOR = "\x1f"


def derive_blocking_key(secret: bytes) -> bytes:
    """The token key: HKDF-SHA256 of the linkage secret, info label BLOCKING_INFO."""
    if not secret:
        raise ValueError("the linkage secret is empty")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BLOCKING_INFO).derive(bytes(secret))


def blocking_values(person: NormalizedPerson) -> list[str]:
    """The labelled plaintext combinations a person's tokens are made from (never sent)."""
    # Only combinations whose blocks stay small as the data grows: a coarse token (the set of
    # name characters; surname + county + sex) makes candidate pairs grow with N squared. At
    # 100k per side, dropping those two cost 3 of 19,598 exhaustive pairs >= 0.8 (99.985%)
    # and cut candidates 90-fold (docs/scale.md); the Hamming-LSH bands at the matcher
    # catch encodings that are close without an exact token in common.
    f = person.features
    pinyin, birth, county = f.get("name_pinyin", ""), f.get("birth_date", ""), person.division_code
    combos = (
        ("resident-id", f.get("id_number", "")),
        ("birth-county", birth, county),
        ("pinyin-year", pinyin, birth[:4]),
        ("pinyin-county", pinyin, county),
        ("phone", f.get("phone", "")),
    )
    return [_SEPARATOR.join(c) for c in combos if all(c[1:])]


class BlockingTokens:
    """Makes a person's blocking tokens under one linkage secret."""

    def __init__(self, secret: bytes) -> None:
        self._key = derive_blocking_key(secret)

    def token(self, value: str) -> bytes:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).digest()[:TOKEN_BYTES]

    def tokens(self, person: NormalizedPerson) -> list[bytes]:
        return [self.token(v) for v in blocking_values(person)]
