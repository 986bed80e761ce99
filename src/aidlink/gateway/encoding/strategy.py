"""Insertion strategies: how many bits each token of a feature sets (clkhash 0.18 semantics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Strategy(Protocol):
    def bits_per_token(self, num_tokens: int) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class BitsPerToken:
    """Every token sets ``k`` bits (the ``k`` of Schnell et al.)."""

    k: int

    def bits_per_token(self, num_tokens: int) -> tuple[int, ...]:
        return (self.k,) * num_tokens


@dataclass(frozen=True)
class BitsPerFeature:
    """The feature's tokens share ``total`` insertions; the first ``total % n`` tokens get one extra."""

    total: int

    def bits_per_token(self, num_tokens: int) -> tuple[int, ...]:
        if num_tokens == 0:
            return ()
        k, residue = divmod(self.total, num_tokens)
        return (k + 1,) * residue + (k,) * (num_tokens - residue)
