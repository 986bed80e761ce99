"""Scoring an attack: per attribute, the share of records whose value it re-identified.

An attack answers, per record and attribute, a guessed value or nothing. Precision is the share
of its guesses that are right; recall is the share of all records whose value it got right (the
figure the issue asks for: "the share of records whose surname ... is correctly re-identified").

Raw recall is not leakage: guessing from public knowledge alone is right for some records (the
most common surname covers several percent of persons). So every score also carries its
**chance**: how many of the same guesses would be right if they were handed to records at random
(the expected hits of a random permutation of the guesses over the view, which is
sum over values v of guesses(v) x holders(v) / records). **Excess** = recall - chance recall is
what the attack learned from what the matcher holds; a working attack has excess far above 0,
a defeated one has excess near 0 whatever its raw recall. :func:`public_baselines` gives, per
attribute, what an attacker gets with no data at all: guessing the publicly most frequent value
for every record, and guessing values in proportion to their public frequency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from aidlink.bench.privacy.view import ATTRIBUTES, Truth


@dataclass
class Guesses:
    """Per attribute, an object array with one guess (str) or None per record of the view."""

    n: int
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def for_attribute(self, attribute: str) -> np.ndarray:
        if attribute not in self.values:
            self.values[attribute] = np.full(self.n, None, dtype=object)
        return self.values[attribute]

    def set(self, attribute: str, rows: np.ndarray, values: np.ndarray | list[str]) -> None:
        self.for_attribute(attribute)[rows] = values


@dataclass(frozen=True)
class Score:
    guessed: int
    correct: int
    records: int
    chance: float = 0.0  # expected correct if the same guesses went to random records

    @property
    def chance_recall(self) -> float:
        return self.chance / self.records if self.records else 0.0

    @property
    def chance_precision(self) -> float:
        return self.chance / self.guessed if self.guessed else 0.0

    @property
    def excess(self) -> float:
        """Recall above chance: what the attack learned from the matcher's data."""
        return self.recall - self.chance_recall

    @property
    def precision(self) -> float:
        return self.correct / self.guessed if self.guessed else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.records if self.records else 0.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "guessed": self.guessed,
            "correct": self.correct,
            "records": self.records,
            "chance_recall": round(self.chance_recall, 4),
            "chance_precision": round(self.chance_precision, 4),
            "excess": round(self.excess, 4),
        }


def chance_hits(guessed: Iterable[str], expected: np.ndarray) -> float:
    """Expected right guesses if ``guessed`` were handed to the records of ``expected`` at random."""
    holders = Counter(expected.tolist())
    made = Counter(guessed)
    return sum(count * holders.get(value, 0) for value, count in made.items()) / max(1, len(expected))


@dataclass(frozen=True)
class Baseline:
    """What public knowledge alone gives on one attribute of a view (no data from the matcher)."""

    attribute: str
    most_frequent: str  # the publicly most frequent value
    most_frequent_recall: float  # share of the view's records holding it (guess it for everyone)
    proportional_precision: float  # guess values by public frequency: expected share right

    def to_json(self) -> dict[str, float | str]:
        return {
            "most_frequent": self.most_frequent,
            "most_frequent_recall": round(self.most_frequent_recall, 4),
            "proportional_precision": round(self.proportional_precision, 4),
        }


def public_baselines(public: dict[str, Counter[str]], truth: Truth) -> dict[str, Baseline]:
    """Per attribute, the two no-data guessers (see the module docstring); ``public`` holds the
    attacker's frequency table of each attribute."""
    out = {}
    for attribute in ATTRIBUTES:
        table = public.get(attribute, Counter())
        expected = truth.values[attribute]
        holders = Counter(expected.tolist())
        n = max(1, len(expected))
        total = sum(table.values())
        if not total:
            out[attribute] = Baseline(attribute, "", 0.0, 0.0)
            continue
        mode = table.most_common(1)[0][0]
        proportional = sum(count / total * holders.get(value, 0) / n for value, count in table.items())
        out[attribute] = Baseline(attribute, mode, holders.get(mode, 0) / n, proportional)
    return out


def score(guesses: Guesses, truth: Truth) -> dict[str, Score]:
    """Precision and recall per attribute (an attribute the attack never guessed scores 0/0)."""
    out = {}
    for attribute in ATTRIBUTES:
        expected = truth.values[attribute]
        guessed = guesses.values.get(attribute)
        if guessed is None:
            out[attribute] = Score(0, 0, len(expected))
            continue
        made = np.array([g is not None for g in guessed], dtype=bool)
        right = made & (guessed == expected)
        chance = chance_hits(guessed[made].tolist(), expected)
        out[attribute] = Score(int(made.sum()), int(right.sum()), len(expected), chance)
    return out
