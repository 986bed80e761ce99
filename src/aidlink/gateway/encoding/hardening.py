"""Hardening of Bloom-filter encodings against frequency and pattern attacks (aidlink extensions).

clkhash's v3 schema has only XOR-folding (``clkConfig.xor_folds``). aidlink adds, under the
top-level key ``aidlinkHardening`` (clkhash does not read schemas that use it)::

    "aidlinkHardening": {
      "salt": {"feature": "birth_date", "length": 4, "features": ["name", "name_pinyin"]},
      "balance": true,
      "blip": {"flipProbability": 0.02},
      "segments": [...], "diffusion": {"t": 5}
    }

- ``salt``: every token of the listed features (default: every hashed feature) is hashed
  together with a per-record salt, the first ``length`` characters of the record's value for
  ``feature`` (here the birth year). Records with different salts share no bits for those
  features, so the same name in different birth cohorts no longer looks the same.
- ``balance``: the filter is concatenated with its complement and the result permuted with a
  permutation keyed by the linkage secret (Berlin & Schnell's balanced Bloom filters): every
  encoding has exactly ``l`` ones among ``2 * l`` bits, hiding how many tokens a record has.
- ``blip``: randomized response (Schnell & Borgs' BLIP): each bit is flipped with probability
  ``flipProbability``. The coin flips come from SHAKE-256 keyed by a key derived from the
  linkage secret and the record's filter, so the same record under the same secret always gets
  the same encoding.

- ``segments`` and ``diffusion``: the filter laid out in segments, each diffused by a keyed
  XOR layer (see :mod:`gateway.encoding.segments`); ``diffusion`` alone diffuses the whole
  filter as one segment. Neither combines with balancing, BLIP or XOR folding (they would
  turn an absent segment's zeros into noise, or mix segments).

Order: tokens hashed (salted) → XOR-folded → balanced → BLIP; or tokens hashed (salted) into
their segments → each segment diffused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import shake_256
from typing import Any

import numpy as np

from aidlink.gateway.encoding.errors import SchemaError
from aidlink.gateway.encoding.keyderivation import KdfConfig, hkdf
from aidlink.gateway.encoding.segments import SegmentLayout, parse_segments

EXTENSION_KEY = "aidlinkHardening"
SALT_SEPARATOR = "\x1f"  # between the salt and a token; cannot occur in normalized values
_BLIP_INFO = b"aidlink hardening blip"
_BALANCE_INFO = b"aidlink hardening balance"
_KEY_SIZE = 32
_RESOLUTION = 1 << 16  # BLIP probabilities are applied in steps of 1/65536


@dataclass(frozen=True)
class SaltSpec:
    """Per-record salt: the first ``length`` characters of ``feature``'s value."""

    feature: str
    length: int
    features: tuple[str, ...]  # the salted features

    def salt_of(self, value: str | None) -> str:
        return (value or "")[: self.length]


@dataclass(frozen=True)
class Hardening:
    """The hardening options of a schema; the default is none (plain clkhash v3)."""

    salt: SaltSpec | None = None
    balance: bool = False
    flip_probability: float = 0.0
    layout: SegmentLayout | None = None

    @property
    def enabled(self) -> bool:
        return self.salt is not None or self.balance or self.flip_probability > 0 or self.layout is not None

    def output_bits(self, length_bits: int) -> int:
        """Encoding length after hardening (balancing doubles it)."""
        return 2 * length_bits if self.balance else length_bits


def parse_hardening(
    obj: Any, hashed_features: tuple[str, ...], all_features: tuple[str, ...], length_bits: int, xor_folds: int = 0
) -> Hardening:
    """Read the ``aidlinkHardening`` section; raises :class:`SchemaError` naming the key at fault."""
    if not isinstance(obj, Mapping):
        raise SchemaError(f"expected a JSON object, got {type(obj).__name__}", key=EXTENSION_KEY)
    _only(obj, ("salt", "balance", "blip", "segments", "diffusion", "description"), EXTENSION_KEY)
    salt = _parse_salt(obj["salt"], hashed_features, all_features) if "salt" in obj else None
    balance = obj.get("balance", False)
    if not isinstance(balance, bool):
        raise SchemaError(f"expected true or false, got {balance!r}", key=f"{EXTENSION_KEY}.balance")
    flip = 0.0
    if "blip" in obj:
        blip = obj["blip"]
        where = f"{EXTENSION_KEY}.blip"
        if not isinstance(blip, Mapping):
            raise SchemaError(f"expected a JSON object, got {type(blip).__name__}", key=where)
        _only(blip, ("flipProbability",), where)
        given = blip.get("flipProbability")
        if isinstance(given, bool) or not isinstance(given, (int, float)) or not 0 < given < 0.5:
            raise SchemaError(f"must be a number above 0 and below 0.5, got {given!r}", key=f"{where}.flipProbability")
        flip = float(given)
    layout = None
    if "segments" in obj or "diffusion" in obj:
        clash = [name for name, on in (("balance", balance), ("blip", flip > 0), ("xor_folds", xor_folds > 0)) if on]
        if clash:
            raise SchemaError(f"segments and diffusion do not combine with {clash}", key=EXTENSION_KEY)
        raw_segments = obj.get("segments")
        if raw_segments is None:  # diffusion of the whole filter, as one segment
            raw_segments = [{"name": "all", "bits": length_bits, "features": list(hashed_features)}]
        layout = parse_segments(raw_segments, obj.get("diffusion"), hashed_features, length_bits, EXTENSION_KEY)
    return Hardening(salt, balance, float(flip), layout)


def _parse_salt(obj: Any, hashed: tuple[str, ...], every: tuple[str, ...]) -> SaltSpec:
    where = f"{EXTENSION_KEY}.salt"
    if not isinstance(obj, Mapping):
        raise SchemaError(f"expected a JSON object, got {type(obj).__name__}", key=where)
    _only(obj, ("feature", "length", "features"), where)
    source = obj.get("feature")
    if not isinstance(source, str) or source not in every:
        raise SchemaError(f"must name a feature of the schema {list(every)}, got {source!r}", key=f"{where}.feature")
    length = obj.get("length")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise SchemaError(f"must be an integer of at least 1, got {length!r}", key=f"{where}.length")
    salted = obj.get("features", list(hashed))
    if not isinstance(salted, list) or not salted or not all(isinstance(f, str) for f in salted):
        raise SchemaError(f"must be a non-empty array of feature identifiers, got {salted!r}", key=f"{where}.features")
    unknown = [f for f in salted if f not in hashed]
    if unknown:
        raise SchemaError(f"{unknown} are not hashed features of the schema {list(hashed)}", key=f"{where}.features")
    return SaltSpec(source, length, tuple(salted))


def _only(obj: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise SchemaError(f"unknown key(s) {unknown}; allowed keys are {list(allowed)}", key=where)


def derive_hardening_key(secret: bytes, kdf: KdfConfig, info: bytes) -> bytes:
    """A key for one hardening step, separate from every feature key (distinct HKDF info)."""
    base = kdf.info or b""
    return hkdf(secret, _KEY_SIZE, KdfConfig(kdf.hash, kdf.salt, base + b"|" + info, _KEY_SIZE))


def keyed_permutation(key: bytes, n: int) -> list[int]:
    """A permutation of ``range(n)`` (Fisher–Yates driven by SHAKE-256 of ``key``)."""
    stream = shake_256(key + b"permutation").digest(8 * n)
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int.from_bytes(stream[8 * i : 8 * i + 8], "big") % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


class Balancer:
    """Filter + complement, permuted by a secret permutation: constant weight ``l`` of ``2 l`` bits."""

    def __init__(self, secret: bytes, kdf: KdfConfig, length_bits: int) -> None:
        self.length_bits = length_bits
        permutation = keyed_permutation(derive_hardening_key(secret, kdf, _BALANCE_INFO), 2 * length_bits)
        self.permutation = np.asarray(permutation, dtype=np.intp)

    def __call__(self, mask: int) -> int:
        """Output bit ``i`` is bit ``permutation[i]`` of filter + complement."""
        l = self.length_bits
        doubled = (mask << l) | (~mask & ((1 << l) - 1))
        bits = np.unpackbits(np.frombuffer(doubled.to_bytes(2 * l // 8, "big"), dtype=np.uint8))
        return int.from_bytes(np.packbits(bits[self.permutation]).tobytes(), "big")


class Blip:
    """Keyed, reproducible randomized response: each bit flips with probability ``p``."""

    def __init__(self, secret: bytes, kdf: KdfConfig, probability: float) -> None:
        self.key = derive_hardening_key(secret, kdf, _BLIP_INFO)
        self.cutoff = round(probability * _RESOLUTION)

    def __call__(self, mask: int, length_bits: int) -> int:
        data = mask.to_bytes(length_bits // 8, "big")
        coins = np.frombuffer(shake_256(self.key + data).digest(2 * length_bits), dtype=">u2")
        flips = np.packbits(coins < self.cutoff).tobytes()
        return mask ^ int.from_bytes(flips, "big")
