"""Segmented filters with a keyed diffusion layer (aidlink extension, linkage schema v2).

Under ``aidlinkHardening`` a schema may lay its filter out in segments and diffuse each one::

    "segments": [
      {"name": "core", "bits": 1024, "features": ["name", "name_pinyin", "birth_date", "sex"]},
      {"name": "id", "bits": 512, "features": ["id_number", "id_number_exact"], "optional": true},
      ...
    ],
    "diffusion": {"t": 5}

- ``segments``: every hashed feature belongs to exactly one segment; a segment's features are
  hashed (each with its own HKDF key, as always) into that segment's bits only, and the
  segments are concatenated in order (their ``bits`` add up to ``clkConfig.l``). A record
  without a value for any feature of an ``optional`` segment leaves that segment all zeros,
  so the matcher can compare two records on the segments both have (missing-aware
  comparison) without learning anything it could not see anyway: an all-zero segment.
- ``diffusion``: Armknecht, Heng, Schnell, "Strengthening privacy-preserving record linkage
  using diffusion" (PoPETs 2023): output bit ``j`` of a segment is the XOR of ``t`` of the
  segment's filter bits, chosen keyed-randomly from the linkage secret (a SHAKE-256 stream
  keyed with an HKDF key of its own per segment). An attacker no longer sees which bits a
  q-gram sets: every output bit mixes ``t`` bits of different q-grams, and frequent bit
  patterns of the filter no longer appear in the output. Similarity is kept in the Hamming
  sense: if two filters differ in a share ``d`` of a segment's bits, their outputs differ in
  about ``(1 - (1 - 2d)**t) / 2`` of them, and unrelated records sit near half.

Order: tokens hashed into their segment (salted if asked) -> each segment diffused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import shake_256
from typing import Any

import numpy as np

from aidlink.gateway.encoding.errors import SchemaError

MAX_DIFFUSION_T = 16
_DIFFUSION_INFO = b"aidlink diffusion segment "


@dataclass(frozen=True)
class Segment:
    """A run of ``bits`` filter bits holding ``features``, starting at bit ``start``."""

    name: str
    start: int
    bits: int
    features: tuple[str, ...]
    optional: bool = False


@dataclass(frozen=True)
class SegmentLayout:
    """The segments of a schema's filter, in order, and the diffusion width (0: none)."""

    segments: tuple[Segment, ...]
    diffusion_t: int = 0

    def segment_of(self, feature: str) -> Segment:
        for segment in self.segments:
            if feature in segment.features:
                return segment
        raise KeyError(feature)

    @property
    def optional(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.optional)

    def describe(self) -> list[tuple[str, int, int]]:
        """(name, first bit, bits) of each optional segment: what a matcher needs for missing-aware compares."""
        return [(s.name, s.start, s.bits) for s in self.optional]


def parse_segments(
    raw_segments: Any, raw_diffusion: Any, hashed: tuple[str, ...], length_bits: int, where: str
) -> SegmentLayout:
    """Read ``segments`` and ``diffusion``; raises :class:`SchemaError` naming the key at fault."""
    key = f"{where}.segments"
    if not isinstance(raw_segments, list) or not raw_segments:
        raise SchemaError("expected a non-empty array of segments", key=key)
    segments: list[Segment] = []
    start = 0
    placed: dict[str, str] = {}
    names: set[str] = set()
    for index, raw in enumerate(raw_segments):
        at = f"{key}[{index}]"
        if not isinstance(raw, Mapping):
            raise SchemaError(f"expected a JSON object, got {type(raw).__name__}", key=at)
        unknown = sorted(set(raw) - {"name", "bits", "features", "optional", "description"})
        if unknown:
            raise SchemaError(f"unknown key(s) {unknown}", key=at)
        name = raw.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise SchemaError(f"must be a unique non-empty string, got {name!r}", key=f"{at}.name")
        names.add(name)
        bits = raw.get("bits")
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 64 or bits & (bits - 1):
            raise SchemaError(f"must be a power of two of at least 64, got {bits!r}", key=f"{at}.bits")
        features = raw.get("features")
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            raise SchemaError(
                f"must be a non-empty array of feature identifiers, got {features!r}", key=f"{at}.features"
            )
        for feature in features:
            if feature not in hashed:
                raise SchemaError(
                    f"{feature!r} is not a hashed feature of the schema {list(hashed)}", key=f"{at}.features"
                )
            if feature in placed:
                raise SchemaError(f"{feature!r} is already in segment {placed[feature]!r}", key=f"{at}.features")
            placed[feature] = name
        optional = raw.get("optional", False)
        if not isinstance(optional, bool):
            raise SchemaError(f"expected true or false, got {optional!r}", key=f"{at}.optional")
        segments.append(Segment(name, start, bits, tuple(features), optional))
        start += bits
    missing = [f for f in hashed if f not in placed]
    if missing:
        raise SchemaError(f"hashed features {missing} are in no segment", key=key)
    if start != length_bits:
        raise SchemaError(f"the segments' bits add up to {start}, but clkConfig.l is {length_bits}", key=key)
    t = 0
    if raw_diffusion is not None:
        dkey = f"{where}.diffusion"
        if not isinstance(raw_diffusion, Mapping) or sorted(raw_diffusion) != ["t"]:
            raise SchemaError('expected {"t": <bits XORed per output bit>}', key=dkey)
        t = raw_diffusion["t"]
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= MAX_DIFFUSION_T:
            raise SchemaError(f"must be an integer from 1 to {MAX_DIFFUSION_T}, got {t!r}", key=f"{dkey}.t")
    return SegmentLayout(tuple(segments), t)


def diffusion_taps(key: bytes, bits: int, t: int) -> np.ndarray:
    """(bits, t) input positions: row ``j`` lists the ``t`` distinct filter bits XORed into output bit ``j``.

    Drawn from SHAKE-256 of ``key`` (bits is a power of two, so ``value % bits`` is unbiased);
    a position drawn twice for the same row is skipped, so each row has ``t`` distinct taps."""
    taps = np.empty((bits, t), dtype=np.intp)
    stream = shake_256(key + b"taps").digest(4 * bits * t * 2 + 4096)
    values = np.frombuffer(stream, dtype=">u4") % bits
    k = 0
    for j in range(bits):
        row: list[int] = []
        while len(row) < t:
            if k == len(values):  # pragma: no cover - needs an astronomically unlucky stream
                values = np.frombuffer(shake_256(key + b"taps" + bytes(j)).digest(4 * bits * t), dtype=">u4") % bits
                k = 0
            v = int(values[k])
            k += 1
            if v not in row:
                row.append(v)
        taps[j] = row
    return taps


def diffusion_key_info(segment: Segment) -> bytes:
    return _DIFFUSION_INFO + segment.name.encode()


class Diffuser:
    """Applies one segment's diffusion: output bit j = XOR of the filter bits ``taps[j]``."""

    def __init__(self, taps: np.ndarray) -> None:
        self.taps = taps
        self.bits = len(taps)

    def __call__(self, segment_mask: int) -> int:
        if segment_mask == 0:
            return 0  # an absent segment stays all zeros (XOR of zeros)
        bits = np.unpackbits(np.frombuffer(segment_mask.to_bytes(self.bits // 8, "big"), dtype=np.uint8))
        out = np.bitwise_xor.reduce(bits[self.taps], axis=1).astype(np.uint8)
        return int.from_bytes(np.packbits(out).tobytes(), "big")

    def sliced(self, segment: np.ndarray) -> np.ndarray:
        """The diffusion of many records' segments at once, bit-sliced: ``segment`` is
        (bits, ceil(records / 8)) bytes, row ``i`` holding bit ``i`` of 8 records per byte.

        Output row ``j`` is the XOR of the ``t`` rows ``taps[j]``: ``t`` vector XORs for all the
        records together, equal to calling the diffuser on each (all-zero segments stay zero)."""
        taps = self.taps
        out = segment[taps[:, 0]]
        for column in range(1, taps.shape[1]):
            out ^= segment[taps[:, column]]
        return out


def slice_bits(rows: np.ndarray) -> np.ndarray:
    """Bit-slice filters: ``rows`` is (records, bits) of 0/1; the result is (bits, ceil(records / 8))
    bytes, row ``i`` holding bit ``i`` of 8 records per byte, the first record in the high bit
    (as ``np.packbits`` along the records would give, without its slow strided loop)."""
    count, bits = rows.shape
    bytes_per_bit = -(-count // 8)
    if count % 8:
        rows = np.concatenate([rows, np.zeros((bytes_per_bit * 8 - count, bits), np.uint8)])
    eights = rows.reshape(bytes_per_bit, 8, bits)
    packed = eights[:, 0, :] << 7
    for k in range(1, 8):
        packed |= eights[:, k, :] << (7 - k)
    return np.ascontiguousarray(packed.T)


def unslice_bits(sliced: np.ndarray, count: int) -> np.ndarray:
    """The inverse of :func:`slice_bits`: (records, bits) of 0/1 for the first ``count`` records."""
    bits, bytes_per_bit = sliced.shape
    packed = np.ascontiguousarray(sliced.T)
    eights = np.empty((bytes_per_bit, 8, bits), np.uint8)
    for k in range(8):
        np.bitwise_and(packed >> (7 - k), 1, out=eights[:, k, :])
    return eights.reshape(bytes_per_bit * 8, bits)[:count]
