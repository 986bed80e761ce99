"""A comparison's matches, held as columns of row numbers and scores.

A compare at scale returns hundreds of thousands of matches. They are kept as three
arrays (the caller's row, the other side's row, the score: 24 bytes a match) and turned
into references and attributes only for the rows being sent, so no Python object per
match exists for the whole result at once. The whole result is still computed before
the first match leaves: the volume limit and the audit entry count all of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, overload

import numpy as np


class MatchedRecord(NamedTuple):
    ref: str  # the caller's own record reference
    score: float
    attributes: dict[str, str]  # the other side's attributes the agreement returns
    disputed: bool = False  # the other side's record is under an open dispute (Art. 23)


@dataclass(frozen=True)
class MatchColumns:
    """Matches ``start:stop`` as columns: entry ``i`` of each list belongs to match ``i``."""

    refs: list[str]
    scores: list[float]
    disputed: list[int]  # positions whose other-side record is under an open dispute
    attributes: dict[str, tuple[list[str], list[int]]]  # name -> (values, "" where missing; missing positions)


@dataclass(frozen=True, eq=False)
class ComparedMatches(Sequence[MatchedRecord]):
    """Matches in answer order: by the caller's row, then score descending, then the other row."""

    mine_rows: np.ndarray  # int64 rows of the caller's dataset
    other_rows: np.ndarray  # int64 rows of the other dataset (not of the agreement's filtered view)
    scores: np.ndarray  # float64
    my_refs: Sequence[str]
    other_refs: Sequence[str]
    other_attributes: Sequence[Mapping[str, str]]
    returns: tuple[str, ...]  # the attributes the agreement returns
    disputed_refs: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def in_answer_order(
        cls, mine_rows: np.ndarray, other_rows: np.ndarray, scores: np.ndarray, **lookups
    ) -> ComparedMatches:
        order = np.lexsort((other_rows, -scores, mine_rows))
        return cls(mine_rows[order], other_rows[order], scores[order], **lookups)

    def __len__(self) -> int:
        return len(self.scores)

    @overload
    def __getitem__(self, index: int) -> MatchedRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[MatchedRecord]: ...
    def __getitem__(self, index: int | slice) -> MatchedRecord | list[MatchedRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self))[index]
        row = int(self.other_rows[i])
        attrs = self.other_attributes[row]
        return MatchedRecord(
            self.my_refs[int(self.mine_rows[i])],
            float(self.scores[i]),
            {k: attrs[k] for k in self.returns if k in attrs},
            self.other_refs[row] in self.disputed_refs,
        )

    def __iter__(self) -> Iterator[MatchedRecord]:
        for i in range(len(self)):
            yield self[i]

    def revealed_refs(self) -> set[str]:
        """The other side's records these matches show (what the volume limit counts)."""
        return {self.other_refs[row] for row in np.unique(self.other_rows).tolist()}

    def columns(self, start: int, stop: int) -> MatchColumns:
        my_refs, other_refs = self.my_refs, self.other_refs
        others = self.other_rows[start:stop].tolist()
        records = [self.other_attributes[row] for row in others]
        attributes = {}
        for name in self.returns:
            values = [r.get(name) for r in records]
            missing = [i for i, v in enumerate(values) if v is None]
            attributes[name] = ([v if v is not None else "" for v in values] if missing else values, missing)
        disputed = (
            [i for i, row in enumerate(others) if other_refs[row] in self.disputed_refs] if self.disputed_refs else []
        )
        return MatchColumns(
            [my_refs[row] for row in self.mine_rows[start:stop].tolist()],
            self.scores[start:stop].tolist(),
            disputed,
            attributes,
        )
