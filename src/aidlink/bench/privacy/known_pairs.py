"""Attack (d): similarity to known pairs — a known-plaintext attack on a similarity-preserving encoding.

The graph attack (:mod:`.graph_matching`) must guess which encoding is whose from structure
alone. This one grants the matcher more: for ``known`` of the records it holds it knows the
person (an insider's leak of a few rows with their references, the operators' own records, a
published case), and it holds a plaintext dataset sharing ``overlap`` of the persons, as in the
graph attack.

1. **Landmarks.** For every record it holds, the matcher computes the Dice similarity to each of
   the ``known`` encodings (its own kernel: the matcher must be able to compare), per segment
   where the public schema has segments (a segment shared whole — one address, one phone — says
   more than the whole vector's Dice). The attacker encodes its plaintext with the public
   schema under a key of its own and computes, for every plaintext person, the same similarities
   to each of the ``known`` persons.
2. **Shared segments.** A record with a segment near-identical to a known record's (Dice >= 0.95:
   the same address or phone, as a known person's household members have) is answered among the
   plaintext persons who share the same segments with the same known persons, the nearest of them.
3. **Matching.** A person's two vectors agree, whatever the key, as far as the encoding preserves
   q-gram similarity — which is what linkage needs. Each remaining record is paired with the
   plaintext person whose vector is nearest, and mutual nearest pairs are kept. An answer
   re-identifies every attribute of the plaintext record. The known records themselves are
   neither guessed nor offered as answers: the attacker knew them already.

What defeats it is an encoding that keeps no similarity between *different* persons (v2's
diffusion: two records agree above chance only when nearly identical) and no segment that two
persons can share whole (v2.1's salted phone and address); plain Bloom filters (v3) keep both.
"""

from __future__ import annotations

import numpy as np

from aidlink.bench.privacy.graph_matching import attacker_encodings, mutual_nearest
from aidlink.bench.privacy.scoring import Guesses
from aidlink.bench.privacy.view import ATTRIBUTES, MatcherView, person_truth
from aidlink.gateway.encoding import LinkageSchema
from aidlink.matcher.similarity import pack, popcounts

SHARED_SEGMENT_DICE = 0.95  # a segment this similar to a known record's holds the same value


def landmark_similarities(encodings: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Dice similarity of every row of ``encodings`` to each of the rows ``landmarks`` (float32, n x k)."""
    packed = pack(encodings)
    counts = popcounts(packed).astype(np.float64)
    out = np.zeros((len(packed), len(landmarks)), dtype=np.float32)
    for column, row in enumerate(landmarks):
        common = np.bitwise_count(packed & packed[row]).sum(axis=1)
        out[:, column] = 2.0 * common / np.maximum(counts + counts[row], 1.0)
    return out


def segment_ranges(schema: LinkageSchema, width_bits: int) -> list[tuple[int, int]]:
    """(first bit, bits) of each segment of the public schema; the whole filter when it has none."""
    layout = schema.hardening.layout
    if layout is None:
        return [(0, width_bits)]
    return [(segment.start, segment.bits) for segment in layout.segments]


def segment_landmark_similarities(
    encodings: np.ndarray, landmarks: np.ndarray, ranges: list[tuple[int, int]]
) -> np.ndarray:
    """:func:`landmark_similarities` of each segment side by side (n x k * segments)."""
    if len(ranges) == 1:
        return landmark_similarities(encodings, landmarks)
    bits = np.unpackbits(encodings, axis=1)
    return np.hstack(
        [
            landmark_similarities(np.packbits(bits[:, start : start + width], axis=1), landmarks)
            for start, width in ranges
        ]
    )


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
    ranges = segment_ranges(view.schema, 8 * view.encodings.shape[1])
    matcher_side = segment_landmark_similarities(view.encodings, rows, ranges)
    attacker_side = segment_landmark_similarities(plain, plain_rows, ranges)
    is_known = np.zeros(n, dtype=bool)
    is_known[rows] = True
    taken = np.zeros(len(plaintext_persons), dtype=bool)
    taken[plain_rows] = True
    answers = np.full(n, -1, dtype=np.int64)
    _shared_segments(matcher_side, attacker_side, is_known, taken, answers)
    unknown = np.flatnonzero(~is_known & (answers < 0))
    candidates = np.flatnonzero(~taken)
    if len(unknown) and len(candidates):
        nearest, _, back = mutual_nearest(matcher_side[unknown], attacker_side[candidates])
        kept = np.flatnonzero(back[nearest] == np.arange(len(unknown)))
        answers[unknown[kept]] = candidates[nearest[kept]]
    guessed = np.flatnonzero(answers >= 0)
    values = [person_truth(plaintext_persons[int(answers[r])]) for r in guessed]
    for attribute in ATTRIBUTES:
        guesses.set(attribute, guessed, np.array([v[attribute] for v in values], dtype=object))
    return guesses


def _shared_segments(
    matcher_side: np.ndarray, attacker_side: np.ndarray, is_known: np.ndarray, taken: np.ndarray, answers: np.ndarray
) -> None:
    """Step 2a: a record with a segment near-identical to a known record's (an address or phone it
    shares, say, with a known person's household) is answered among the plaintext persons that
    share the same segments with the same known persons, the nearest of them in the whole profile."""
    matcher_near = matcher_side >= SHARED_SEGMENT_DICE
    attacker_near = attacker_side >= SHARED_SEGMENT_DICE
    for row in np.flatnonzero(matcher_near.any(axis=1) & ~is_known):
        columns = np.flatnonzero(matcher_near[row])
        pool = np.flatnonzero(attacker_near[:, columns].all(axis=1) & ~taken)
        if len(pool):
            distance = ((attacker_side[pool] - matcher_side[row]) ** 2).sum(axis=1)
            answers[row] = pool[int(distance.argmin())]
