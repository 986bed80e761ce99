"""Hamming LSH by bit sampling: band keys computed from the encodings' own bits.

Band ``j`` samples ``bits_per_band`` fixed bit positions; two encodings share band
``j``'s key exactly when they agree on all of those bits. Pairs above a Dice
threshold of 0.8 agree on ~85 % of bits and random pairs on ~50 %, so a few dozen
bands catch most close pairs while random pairs rarely meet. The positions come
from a public seed: the encodings are already keyed, so nothing here is secret.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

# Parallel calls are serialised, as in the Dice kernels (numba's fallback "workqueue" threading
# layer aborts on concurrent parallel calls).
_PARALLEL_LOCK = threading.Lock()
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def _mix(x):  # pragma: no cover - compiled
    """splitmix64's finaliser: a bijective scramble of 64 bits."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@njit(cache=True, parallel=True)
def _band_keys(words, positions, salts, out):  # pragma: no cover - compiled
    one = np.uint64(1)
    for i in prange(words.shape[0]):
        for j in range(positions.shape[0]):
            value = np.uint64(0)
            for t in range(positions.shape[1]):
                p = positions[j, t]
                bit = (words[i, p >> 6] >> np.uint64(p & 63)) & one
                value = (value << one) | bit
            key = _mix(value ^ salts[j])
            # The top value is blocking's padding marker; keep clear of it.
            out[i, j] = key if key != np.uint64(0xFFFFFFFFFFFFFFFF) else np.uint64(0xFFFFFFFFFFFFFFFE)


@dataclass(frozen=True)
class BitSamplingLsh:
    """``bands`` band keys per encoding, each from ``bits_per_band`` sampled bits."""

    bands: int = 24
    bits_per_band: int = 24
    seed: int = 20240601

    def __post_init__(self) -> None:
        if self.bands < 1:
            raise ValueError(f"BitSamplingLsh.bands must be >= 1; got {self.bands}")
        if not 1 <= self.bits_per_band <= 64:
            raise ValueError(f"BitSamplingLsh.bits_per_band must be 1-64; got {self.bits_per_band}")

    def positions(self, bits: int) -> np.ndarray:
        """Sampled bit positions, ``(bands, bits_per_band)``; distinct within a band."""
        if self.bits_per_band > bits:
            raise ValueError(f"cannot sample {self.bits_per_band} bits per band from {bits}-bit encodings")
        rng = np.random.default_rng(self.seed)
        return np.stack(
            [np.sort(rng.choice(bits, self.bits_per_band, replace=False)) for _ in range(self.bands)]
        ).astype(np.int64)

    def band_keys(self, packed: np.ndarray) -> np.ndarray:
        """``(n, bands)`` uint64 band keys for packed ``(n, words)`` uint64 encodings."""
        if packed.ndim != 2 or packed.dtype != np.uint64:
            raise ValueError(f"expected packed (n, words) uint64 encodings; got {packed.dtype} {packed.shape}")
        out = np.empty((packed.shape[0], self.bands), dtype=np.uint64)
        if packed.shape[0] == 0:
            return out
        positions = self.positions(packed.shape[1] * 64)
        salts = (
            np.random.default_rng(self.seed + 1)
            .integers(0, 2**63, self.bands, dtype=np.int64, endpoint=False)
            .astype(np.uint64)
        )
        with _PARALLEL_LOCK:
            _band_keys(np.ascontiguousarray(packed), positions, salts, out)
        return out
