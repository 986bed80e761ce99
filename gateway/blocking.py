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

from gateway.normalize.person import NormalizedPerson
from gateway.normalize.surnames import split_surname

BLOCKING_INFO = b"aidlink blocking-tokens v1"
TOKEN_BYTES = 8
_SEPARATOR = "\x1f"
_NAME_MARKS = frozenset("·. ")


def derive_blocking_key(secret: bytes) -> bytes:
    """The token key: HKDF-SHA256 of the linkage secret, info label BLOCKING_INFO."""
    if not secret:
        raise ValueError("the linkage secret is empty")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BLOCKING_INFO).derive(bytes(secret))


def blocking_values(person: NormalizedPerson) -> list[str]:
    """The labelled plaintext combinations a person's tokens are made from (never sent)."""
    f = person.features
    name, pinyin = f.get("name", ""), f.get("name_pinyin", "")
    birth, sex, county = f.get("birth_date", ""), f.get("sex", ""), person.division_code
    name_chars = "".join(sorted(set(name) - _NAME_MARKS))
    surname = split_surname(name)[0] if name else ""
    combos = (
        ("resident-id", f.get("id_number", "")),
        ("birth-county", birth, county),
        ("pinyin-year", pinyin, birth[:4]),
        ("pinyin-county", pinyin, county),
        ("phone", f.get("phone", "")),
        ("name-characters", name_chars),
        ("surname-county-sex", surname, county, sex),
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
