"""Tokenizers for the linkage-schema v3 ``comparison`` types, token-for-token as clkhash 0.18.

A tokenizer turns a feature's formatted value into the list of tokens inserted into the
Bloom filter. Order and duplicates matter: with the ``bitsPerFeature`` strategy the first
tokens get one more bit than the later ones (see :mod:`gateway.encoding.strategy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Tokenizer(Protocol):
    def __call__(self, word: str) -> list[str]: ...


@dataclass(frozen=True)
class NgramTokenizer:
    """n-grams of a word padded with ``n - 1`` spaces each side (clkhash ``ngram``).

    ``'clkhash'`` with n=2 gives ``' c', 'cl', 'lk', 'kh', 'ha', 'as', 'sh', 'h '``; positional
    n-grams prefix the 1-based position and a space: ``'1  c', '2 cl', ...``. n=1 adds no padding.
    """

    n: int
    positional: bool = False

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n-gram length must be at least 1, got {self.n}")

    def __call__(self, word: str) -> list[str]:
        if not word:
            return []
        n = self.n
        if n > 1:
            pad = " " * (n - 1)
            word = f"{pad}{word}{pad}"
        count = len(word) - n + 1
        if self.positional:
            return [f"{i + 1} {word[i : i + n]}" for i in range(count)]
        return [word[i : i + n] for i in range(count)]


@dataclass(frozen=True)
class ExactTokenizer:
    """The whole (non-empty) value as a single token (clkhash ``exact``)."""

    def __call__(self, word: str) -> list[str]:
        return [word] if word else []


@dataclass(frozen=True)
class NumericTokenizer:
    """Neighbourhood tokens of a number (clkhash ``numeric``, after Vatsalan & Christen 2015).

    Produces ``2 * resolution + 1`` tokens; numbers closer than ``threshold_distance`` share some.
    Raises ``ValueError`` for a value that is not a number.
    """

    threshold_distance: float
    resolution: int
    fractional_precision: int = 0

    def __post_init__(self) -> None:
        if not self.threshold_distance > 0:
            raise ValueError(f"thresholdDistance must be positive, got {self.threshold_distance}")
        if self.resolution < 1:
            raise ValueError(f"resolution must be at least 1, got {self.resolution}")
        if self.fractional_precision < 0:
            raise ValueError(f"fractional_precision must be >= 0, got {self.fractional_precision}")
        if self.distance_interval == 0:
            raise ValueError("fractional_precision too small to represent thresholdDistance")

    @property
    def distance_interval(self) -> int:
        return int(round(self.threshold_distance * pow(10, self.fractional_precision)))

    def __call__(self, word: str) -> list[str]:
        if not word:
            return []
        precision = self.fractional_precision
        try:
            v = int(word, base=10)
            if precision > 0:
                v *= pow(10, precision)
        except ValueError:
            v_float = float(word)
            v = int(round(v_float * pow(10, precision))) if precision > 0 else int(v_float)
        interval = self.distance_interval
        v = v * 2 * self.resolution
        residue = v % interval
        if residue == 0:
            pass
        elif residue < interval / 2:
            v -= residue
        else:
            v += interval - residue
        return [str(v + i * interval) for i in range(-self.resolution, self.resolution + 1)]
