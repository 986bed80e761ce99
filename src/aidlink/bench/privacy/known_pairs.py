"""Attack (d): similarity to known pairs — a known-plaintext attack on a similarity-preserving encoding.

The graph attack (:mod:`.graph_matching`) must guess which encoding is whose from structure
alone. This one grants the matcher more: for ``known`` of the records it holds it knows the
person (an insider's leak of a few rows with their references, the operators' own records, a
published case), and it holds a plaintext dataset sharing ``overlap`` of the persons, as in the
graph attack.

1. **Landmarks.** For every record it holds, the matcher computes the Dice similarity to each of
   the ``known`` encodings (its own kernel: the matcher must be able to compare). The attacker
   encodes its plaintext with the public schema under a key of its own and computes, for every
   plaintext person, the Dice similarity to each of the ``known`` persons the same way.
2. **Matching.** A person's two vectors agree, whatever the key, as far as the encoding preserves
   q-gram similarity — which is what linkage needs. Each remaining record is paired with the
   plaintext person whose vector is nearest, and mutual nearest pairs are kept. A kept pair
   re-identifies every attribute of the plaintext record. The known records themselves are
   neither guessed nor offered as answers: the attacker knew them already.

No encoding that lets the matcher link records can remove the signal; what limits it is how
noisy a Dice under a different key is, and how many persons share a similarity profile.
"""

from __future__ import annotations

import numpy as np

from aidlink.bench.privacy.graph_matching import attacker_encodings, mutual_nearest
from aidlink.bench.privacy.scoring import Guesses
from aidlink.bench.privacy.view import ATTRIBUTES, MatcherView, person_truth
from aidlink.matcher.similarity import pack, popcounts


def landmark_similarities(encodings: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Dice similarity of every row of ``encodings`` to each of the rows ``landmarks`` (float32, n x k)."""
    packed = pack(encodings)
    counts = popcounts(packed).astype(np.float64)
    out = np.zeros((len(packed), len(landmarks)), dtype=np.float32)
    for column, row in enumerate(landmarks):
        common = np.bitwise_count(packed & packed[row]).sum(axis=1)
        out[:, column] = 2.0 * common / np.maximum(counts + counts[row], 1.0)
    return out


def choose_known(persons: list, plaintext_persons: list, known: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``known`` (matcher row, plaintext row) pairs of one person each, drawn among the shared persons.

    A person is shared when the very same person is on both sides: the attacker's other people
    come from a population of another seed, whose person IDs repeat the view's for other people.
    """
    plaintext_row = {id(person): row for row, person in enumerate(plaintext_persons)}
    shared = np.array([row for row, person in enumerate(persons) if id(person) in plaintext_row], dtype=np.int64)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(shared, min(known, len(shared)), replace=False)) if len(shared) else shared
    return rows, np.array([plaintext_row[id(persons[r])] for r in rows], dtype=np.int64)


def known_pairs_attack(
    view: MatcherView,
    plaintext_persons: list,
    persons: list,
    *,
    known: int,
    seed: int = 0,
) -> Guesses:
    """Re-identify records by their similarity to ``known`` records whose person the matcher knows.

    ``persons`` (the person behind each row of the view; shared persons are the same objects in
    ``plaintext_persons``, as :func:`.auxiliary_dataset` makes them) is used only to draw the
    known pairs among the persons the two sides share, as an insider's leak would give them.
    """
    n = len(view)
    guesses = Guesses(n)
    for attribute in ATTRIBUTES:
        guesses.for_attribute(attribute)
    rows, plain_rows = choose_known(persons, plaintext_persons, known, seed)
    if len(rows) == 0 or n - len(rows) < 1:
        return guesses
    plain = attacker_encodings(plaintext_persons, view.schema, seed)
    matcher_side = landmark_similarities(view.encodings, rows)
    attacker_side = landmark_similarities(plain, plain_rows)
    unknown = np.setdiff1d(np.arange(n), rows)
    candidates = np.setdiff1d(np.arange(len(plaintext_persons)), plain_rows)
    if len(candidates) == 0:
        return guesses
    nearest, _, back = mutual_nearest(matcher_side[unknown], attacker_side[candidates])
    kept = np.flatnonzero(back[nearest] == np.arange(len(unknown)))
    values = [person_truth(plaintext_persons[int(candidates[nearest[k]])]) for k in kept]
    for attribute in ATTRIBUTES:
        guesses.set(attribute, unknown[kept], np.array([v[attribute] for v in values], dtype=object))
    return guesses
