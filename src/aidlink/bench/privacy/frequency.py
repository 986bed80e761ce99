"""Attack (a): frequency alignment.

Identical keyed values stay identical, so how often each one occurs is visible. The attacker
sorts the matcher's distinct blocking tokens (per kind) or distinct encodings by how often they
occur, sorts the plaintext values its public knowledge predicts for them by expected count, and
pairs them rank for rank (the classic attack on deterministic encryption; Naveed et al. 2015).
Only values seen at least ``min_count`` times are aligned: a value seen once carries no
frequency information.

Token kinds: the node sends a record's tokens in a fixed order (resident ID, birth date +
county, pinyin + birth year, pinyin + county, phone), skipping the ones it cannot form. In a
record with all five the position gives the kind; a token value seen there has that kind
wherever else it appears.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TypeVar

import numpy as np

from aidlink.bench.privacy.knowledge import PublicKnowledge
from aidlink.bench.privacy.scoring import Guesses
from aidlink.bench.privacy.view import MatcherView
from aidlink.gateway.normalize.surnames import split_surname

TOKEN_KINDS = ("resident-id", "birth-county", "pinyin-year", "pinyin-county", "phone")
SEPARATOR = "\x1f"
K = TypeVar("K")
V = TypeVar("V")


def rank_align(observed: Counter[K], expected: Counter[V], min_count: int = 2) -> dict[K, V]:
    """Pair the observed values seen at least ``min_count`` times with expected values, rank for rank.

    Ties are broken by value so the result is deterministic."""
    seen = sorted(((c, k) for k, c in observed.items() if c >= min_count), key=lambda ck: (-ck[0], repr(ck[1])))
    wanted = sorted(expected.items(), key=lambda kc: (-kc[1], repr(kc[0])))
    return {key: value for (_, key), (value, _) in zip(seen, wanted)}


def token_kinds(tokens: Iterable[tuple[bytes, ...]]) -> dict[bytes, str]:
    """The kind of every token value that appears in a record carrying all five kinds."""
    kinds: dict[bytes, str] = {}
    for record in tokens:
        if len(record) == len(TOKEN_KINDS):
            for token, kind in zip(record, TOKEN_KINDS, strict=True):
                kinds[token] = kind
    return kinds


def _name_guess(plain: str, knowledge: PublicKnowledge) -> dict[str, str]:
    """What a labelled blocking plaintext says about the scored attributes."""
    kind, *parts = plain.split(SEPARATOR)
    if kind == "resident-id":
        return {"id_number": parts[0], "birth_date": parts[0][6:14]}
    if kind == "birth-county":
        return {"birth_date": parts[0]}
    if kind in ("pinyin-year", "pinyin-county"):
        name = knowledge.pinyin_names.get(parts[0])
        if name:
            return {"name": name, "surname": split_surname(name)[0]}
    return {}


def token_frequency_attack(view: MatcherView, knowledge: PublicKnowledge, min_count: int = 2) -> Guesses:
    """Rank-align blocking tokens of each kind with the plaintext combinations of that kind."""
    n = len(view)
    kinds = token_kinds(view.blocking_tokens)
    observed: dict[str, Counter[bytes]] = defaultdict(Counter)
    for record in view.blocking_tokens:
        for token in record:
            kind = kinds.get(token)
            if kind is not None:
                observed[kind][token] += 1
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for values in knowledge.token_values:
        for value in values:
            expected[value.split(SEPARATOR, 1)[0]][value] += 1
    meaning: dict[bytes, dict[str, str]] = {}
    for kind in ("birth-county", "pinyin-county", "pinyin-year"):  # later kinds win: pinyin-year is most telling
        for token, plain in rank_align(observed[kind], expected[kind], min_count).items():
            meaning[token] = _name_guess(plain, knowledge)
    guesses = Guesses(n)
    for row, record in enumerate(view.blocking_tokens):
        for token in record:
            for attribute, value in meaning.get(token, {}).items():
                guesses.for_attribute(attribute)[row] = value
    return guesses


def encoding_frequency_attack(view: MatcherView, knowledge: PublicKnowledge, min_count: int = 2) -> Guesses:
    """Rank-align identical encodings with identical plaintext records (every hashed feature equal)."""
    n = len(view)
    hashed = [f.identifier for f in view.schema.features if not f.ignored]
    _, inverse, counts = np.unique(view.encodings, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    observed = Counter({int(i): int(c) for i, c in enumerate(counts)})
    expected: Counter[tuple[str, ...]] = Counter()
    example: dict[tuple[str, ...], int] = {}
    for index, features in enumerate(knowledge.features):
        key = tuple(features.get(h, "") for h in hashed)
        expected[key] += 1
        example.setdefault(key, index)
    aligned = rank_align(observed, expected, min_count)
    guesses = Guesses(n)
    for attribute in ("surname", "name", "birth_date", "id_number"):
        guesses.for_attribute(attribute)
    for group, key in aligned.items():
        rows = np.flatnonzero(inverse == group)
        features = dict(zip(hashed, key, strict=True))
        person = knowledge.persons[example[key]]
        if "name" in features:
            guesses.set("name", rows, [person.name] * len(rows))
            guesses.set("surname", rows, [split_surname(person.name)[0]] * len(rows))
        if features.get("birth_date"):
            guesses.set("birth_date", rows, [features["birth_date"]] * len(rows))
        if features.get("id_number"):
            guesses.set("id_number", rows, [features["id_number"]] * len(rows))
    return guesses
