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


# -- linkage schema v2: high-entropy tokens only, a constant count, in no telling order ---------------

BLOCKING_V2_INFO = b"aidlink blocking-tokens v2"
V2_TOKENS_PER_RECORD = 3


def blocking_values_v2(person: NormalizedPerson) -> list[str]:
    """The combinations v2 tokens are made from: each (nearly) unique to a person, so the matcher's
    count of a token says nothing about how common a name, date or place is (the v1 tokens
    birth date + county and pinyin + birth year or county are shared by many persons, and
    their frequencies line up with public name and birth statistics)."""
    f = person.features
    combos = (
        ("resident-id", f.get("id_number", "")),
        ("pinyin-birth-date", f.get("name_pinyin", ""), f.get("birth_date", "")),
        ("phone", f.get("phone", "")),
    )
    return [_SEPARATOR.join(c) for c in combos if all(c[1:])]


class ShuffledBlockingTokens:
    """Blocking tokens for linkage schema v2.

    - Only high-entropy combinations (:func:`blocking_values_v2`), under a key of their own
      (HKDF info ``BLOCKING_V2_INFO``), so v1 and v2 tokens never coincide.
    - Always ``V2_TOKENS_PER_RECORD`` tokens: a record lacking a combination gets a filler token,
      keyed from all of its normalized values, that matches no other record's token; the count
      no longer says which fields a record has.
    - Sent sorted by value: the order is that of keyed-random bytes, so a token's position no
      longer tells its kind (v1 sends them in a fixed order of kinds).
    """

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the linkage secret is empty")
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BLOCKING_V2_INFO).derive(bytes(secret))

    def token(self, value: str) -> bytes:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).digest()[:TOKEN_BYTES]

    def tokens(self, person: NormalizedPerson) -> list[bytes]:
        tokens = [self.token(v) for v in blocking_values_v2(person)]
        everything = _SEPARATOR.join(f"{k}={v}" for k, v in sorted(person.features.items()))
        for filler in range(V2_TOKENS_PER_RECORD - len(tokens)):
            tokens.append(self.token(f"filler{_SEPARATOR}{filler}{_SEPARATOR}{everything}"))
        return sorted(tokens)
