"""Scoring an attack: per attribute, the share of records whose value it re-identified.

An attack answers, per record and attribute, a guessed value or nothing. Precision is the share
of its guesses that are right; recall is the share of all records whose value it got right (the
figure the issue asks for: "the share of records whose surname ... is correctly re-identified").
"""

from __future__ import annotations

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
        }


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
        out[attribute] = Score(int(made.sum()), int(right.sum()), len(expected))
    return out
