"""Bloom-filter bit positions for tokens, bit-for-bit as clkhash 0.18.

A filter of ``l`` bits is held as a Python int whose most significant bit is filter bit 0, so
``mask.to_bytes(l // 8, "big")`` is exactly clkhash's ``bitarray(l).tobytes()`` (bitarray's
default big-endian bit order). Token masks are cached, so encoding a record is a few integer ORs.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache, reduce
from hashlib import blake2b, md5, sha1
from operator import or_
from typing import Literal

import numpy as np

HashKind = Literal["blakeHash", "doubleHash"]
BLAKE_HASH: HashKind = "blakeHash"
DOUBLE_HASH: HashKind = "doubleHash"
BLAKE_MAX_KEY_SIZE = blake2b.MAX_KEY_SIZE  # 64 bytes
TOKEN_CACHE_SIZE = 2**15

# clkhash unpacks each 64-byte BLAKE2b digest as '32H' in native byte order; every platform it
# (and we) run on is little-endian, so the order is pinned here to keep encodings portable.
_SHORTS = struct.Struct("<32H")


@dataclass(frozen=True)
class HashSpec:
    """The ``hashing.hash`` section of a feature."""

    type: HashKind = BLAKE_HASH
    prevent_singularity: bool = False


def blake_positions(token: bytes, k: int, key: bytes, l: int) -> list[int]:
    """``k`` bit positions: 16-bit slices of keyed BLAKE2b digests (salt ``b'0'``, ``b'1'``, ...) mod ``l``."""
    shorts: list[int] = []
    for i in range((k + 31) // 32):
        shorts.extend(_SHORTS.unpack(blake2b(token, key=key, salt=str(i).encode()).digest()))
    return [s % l for s in shorts[:k]]


def double_hash_positions(
    token: bytes, k: int, key_sha1: bytes, key_md5: bytes, l: int, prevent_singularity: bool = False
) -> list[int]:
    """Schnell et al.'s ``(h_sha1 + i * h_md5) mod l`` with HMAC-SHA1 / HMAC-MD5.

    Kept only for reading clkhash schemas that ask for it: double hashing leaks structure
    (Kroll & Steinmetzer 2015); new schemas should use blakeHash.
    """
    h1 = int.from_bytes(hmac.digest(key_sha1, token, sha1), "big") % l
    h2 = int.from_bytes(hmac.digest(key_md5, token, md5), "big") % l
    if prevent_singularity:
        i = 0
        while h2 == 0:
            h2 = int.from_bytes(hmac.digest(key_md5, token + chr(i).encode(), md5), "big") % l
            i += 1
    return [(h1 + i * h2) % l for i in range(k)]


def positions_mask(positions: Iterable[int], l: int) -> int:
    """The filter (as an int, bit 0 most significant) with ``positions`` set."""
    mask = 0
    top = l - 1
    for p in positions:
        mask |= 1 << (top - p)
    return mask


def fold_xor(mask: int, l: int, folds: int) -> int:
    """XOR the first half of the filter onto the second, ``folds`` times (clkhash ``fold_xor``)."""
    for _ in range(folds):
        l //= 2
        mask = (mask >> l) ^ (mask & ((1 << l) - 1))
    return mask


def mask_bytes(mask: int, l: int) -> bytes:
    """The filter as clkhash serializes it: ``l // 8`` bytes, bit 0 the high bit of byte 0."""
    return mask.to_bytes(l // 8, "big")


@lru_cache(maxsize=8)
def _bit_of_short(l: int) -> list[int]:
    """For each 16-bit digest slice ``s``, the filter mask of bit ``s % l`` (bit 0 most significant).

    65 536 references to ``l`` shared ints: half a MiB per filter length."""
    bits = [1 << (l - 1 - p) for p in range(l)]
    return [bits[s % l] for s in range(1 << 16)]


class BlakeTokenMasks:
    """The fast path's blakeHash: the same mask as ``positions_mask(blake_positions(...))``.

    Two things differ from the plain functions, not the result: the keyed BLAKE2b state of each
    salt is made once and copied per token (keying costs a whole compression), and the mask is
    ORed from a table of single-bit masks in C (``reduce``/``map``) instead of a Python loop."""

    def __init__(self, key: bytes, l: int) -> None:
        self._key = key
        self._states: list[blake2b] = [blake2b(key=key, salt=b"0"), blake2b(key=key, salt=b"1")]
        self._table = _bit_of_short(l)
        self._l = l

    def many(self, tokens: list[bytes], k: int) -> list[int]:
        """``[self(token, k) for token in tokens]``, the bits set for all the tokens at once (numpy)
        instead of ``k`` big-int ORs per token: for values that do not repeat (ID numbers)."""
        if not tokens or k < 1:
            return [self(token, k) for token in tokens]
        digests = (k + 31) // 32
        states = self._states
        while len(states) < digests:
            states.append(blake2b(key=self._key, salt=str(len(states)).encode()))
        parts = []
        for token in tokens:
            for state in states[:digests]:
                h = state.copy()
                h.update(token)
                parts.append(h.digest())
        count, l = len(tokens), self._l
        shorts = np.frombuffer(b"".join(parts), dtype="<u2").reshape(count, digests * 32)[:, :k]
        bits = np.zeros((count, l), dtype=np.uint8)
        positions = shorts if l > 0xFFFF else shorts % l  # a filter longer than 2**16 bits: no wrap
        bits[np.arange(count)[:, None], positions] = 1  # position p: bit p from the top, as positions_mask
        packed = np.packbits(bits, axis=1).tobytes()
        size = l // 8
        return [int.from_bytes(packed[i : i + size], "big") for i in range(0, len(packed), size)]

    def __call__(self, token: bytes, k: int) -> int:
        bit = self._table.__getitem__
        if 0 < k <= 32:  # one digest: the usual case
            h = self._states[0].copy()
            h.update(token)
            return reduce(or_, map(bit, _SHORTS.unpack(h.digest())[:k]))
        if 32 < k <= 64:  # two digests
            first, second = self._states[0].copy(), self._states[1].copy()
            first.update(token)
            second.update(token)
            mask = reduce(or_, map(bit, _SHORTS.unpack(first.digest())))
            return reduce(or_, map(bit, _SHORTS.unpack(second.digest())[: k - 32]), mask)
        states = self._states
        digests = (k + 31) // 32
        while len(states) < digests:
            states.append(blake2b(key=self._key, salt=str(len(states)).encode()))
        shorts: tuple[int, ...] = ()
        for state in states[:digests]:
            h = state.copy()
            h.update(token)
            shorts += _SHORTS.unpack(h.digest())
        return reduce(or_, map(bit, shorts[:k]), 0)


class TokenHasher:
    """Maps one feature's tokens to filter masks with that feature's key pair; caches per token."""

    def __init__(self, spec: HashSpec, keys: tuple[bytes, bytes], l: int, encoding: str) -> None:
        self.spec = spec
        self.l = l
        self.encoding = encoding
        key_first, key_second = keys
        if spec.type == BLAKE_HASH:
            if l & (l - 1):
                raise ValueError(f"blakeHash needs a filter length that is a power of two, got {l}")

            def positions(token: bytes, k: int) -> list[int]:
                return blake_positions(token, k, key_first, l)

            self._fast: Callable[[bytes, int], int] | None = BlakeTokenMasks(key_first, l)
        elif spec.type == DOUBLE_HASH:

            def positions(token: bytes, k: int) -> list[int]:
                return double_hash_positions(token, k, key_first, key_second, l, spec.prevent_singularity)

            self._fast = None
        else:
            raise ValueError(f"unsupported hash type {spec.type!r}")
        self._positions = positions
        self.token_mask = lru_cache(maxsize=TOKEN_CACHE_SIZE)(self._token_mask)

    def _token_mask(self, token: str, k: int) -> int:
        return positions_mask(self._positions(token.encode(self.encoding), k), self.l)

    def fast_token_mask(self, token: str, k: int) -> int:
        """:meth:`token_mask` for the fast path, computed without the plain path's caches."""
        if self._fast is None:
            return self._token_mask(token, k)
        return self._fast(token.encode(self.encoding), k)

    def fast_token_masks(self, tokens: list[str], k: int) -> list[int]:
        """:meth:`fast_token_mask` of many tokens with the same ``k``."""
        if not isinstance(self._fast, BlakeTokenMasks):
            return [self.fast_token_mask(token, k) for token in tokens]
        encoding = self.encoding
        return self._fast.many([token.encode(encoding) for token in tokens], k)

    def mask(self, tokens: list[str], ks: tuple[int, ...]) -> int:
        """OR of the masks of ``tokens``, token ``i`` setting ``ks[i]`` bits."""
        return reduce(or_, map(self.token_mask, tokens, ks), 0)
