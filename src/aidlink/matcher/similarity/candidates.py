"""Candidate pairs produced by the similarity join."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# anonlink's candidate tuple: (sims, (dset_is0, dset_is1), (rec_is0, rec_is1)).
AnonlinkCandidates = tuple["array[float]", tuple["array[int]", "array[int]"], tuple["array[int]", "array[int]"]]
_UINT32_MAX = 0xFFFFFFFF


def canonical_order(scores: np.ndarray, a_index: np.ndarray, b_index: np.ndarray) -> np.ndarray:
    """Permutation sorting pairs by score descending, then a index, then b index (anonlink's order)."""
    return np.lexsort((b_index, a_index, -scores))


@dataclass(frozen=True, eq=False)
class CandidatePairs:
    """Pairs of records (row of dataset A, row of dataset B) with their Dice score."""

    scores: np.ndarray
    a_index: np.ndarray
    b_index: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in (("scores", np.float64), ("a_index", np.int64), ("b_index", np.int64)):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.dtype != dtype or value.ndim != 1:
                raise TypeError(f"CandidatePairs.{name} must be a 1-D {np.dtype(dtype)} array")
        if not len(self.scores) == len(self.a_index) == len(self.b_index):
            raise ValueError(
                "CandidatePairs arrays differ in length: "
                f"scores {len(self.scores)}, a_index {len(self.a_index)}, "
                f"b_index {len(self.b_index)}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> CandidatePairs:
        return cls(np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.int64))

    @classmethod
    def concatenate(cls, parts: Iterable[CandidatePairs]) -> CandidatePairs:
        """Join parts (e.g. streamed chunks) into one set in anonlink's canonical order."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        scores = np.concatenate([p.scores for p in parts])
        a_index = np.concatenate([p.a_index for p in parts])
        b_index = np.concatenate([p.b_index for p in parts])
        order = canonical_order(scores, a_index, b_index)
        return cls(scores[order], a_index[order], b_index[order])

    def to_anonlink(self) -> AnonlinkCandidates:
        """anonlink's ``find_candidate_pairs`` result for datasets ``[A, B]``."""
        if len(self) and max(int(self.a_index.max()), int(self.b_index.max())) > _UINT32_MAX:
            raise ValueError("record index exceeds anonlink's 32-bit index arrays")
        sims = array("d", self.scores.tobytes())
        dset_is0 = array("I", np.zeros(len(self), dtype=np.uint32).tobytes())
        dset_is1 = array("I", np.ones(len(self), dtype=np.uint32).tobytes())
        rec_is0 = array("I", self.a_index.astype(np.uint32).tobytes())
        rec_is1 = array("I", self.b_index.astype(np.uint32).tobytes())
        return sims, (dset_is0, dset_is1), (rec_is0, rec_is1)
