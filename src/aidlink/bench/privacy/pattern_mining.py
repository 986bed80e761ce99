"""Attack (b): Bloom-filter pattern mining, in the style of Christen et al. (2017, 2018).

Every record holding a character sets that character's k bit positions (k is public: the
schema says 20 per name character). Records sharing a frequent character therefore share a
*frequent bit pattern*: a set of positions that are all 1 together far more often than chance.

1. **Mine patterns.** Seeds are the position pairs that co-occur most above independence. From a
   seed the pattern grows greedily: the records holding every position of the pattern are
   selected, the position set in the largest share of them is added, and the closure (every
   position set in >= ``closure`` of them) joins; growth stops when no further position is shared
   by most of the records. A found pattern is removed from its records (deflation) so that rarer
   patterns hidden under it surface in the next round.
2. **Align patterns with characters.** A surname is a character every record has exactly one of,
   independent of sex; given-name characters are sex-specific. Patterns whose records are
   balanced between the two sex patterns (found the same way: 12 bits, half the records) are
   aligned with surnames by frequency, the others with given-name characters.
3. **Re-identify.** A record holds a character when every core position of its pattern is set.
   The surname is the aligned surname pattern it holds (the most frequent if several); the full
   name adds the given-name characters it holds, ordered by public frequency; birth date and ID
   number are not attacked here (positional digits are 5 bits each, below what this mining
   separates from chance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aidlink.bench.privacy.knowledge import PublicKnowledge
from aidlink.bench.privacy.scoring import Guesses
from aidlink.bench.privacy.view import MatcherView


@dataclass(frozen=True)
class Pattern:
    positions: np.ndarray  # sorted bit positions (the closure)
    rows: np.ndarray  # records holding every position

    @property
    def support(self) -> int:
        return len(self.rows)


def _cooccurrence_z(work: np.ndarray) -> np.ndarray:
    """How far each position pair co-occurs above independence, in standard deviations."""
    n = work.shape[0]
    w = work.astype(np.float32)
    counts = w.T @ w
    p = np.diag(counts) / n
    expected = np.outer(p, p) * n
    z = (counts - expected) / np.sqrt(expected * (1 - np.outer(p, p)) + 1.0)
    np.fill_diagonal(z, -np.inf)
    return z


def grow(work: np.ndarray, seed: tuple[int, int], *, closure: float, core: int, min_support: int) -> Pattern | None:
    """Grow a pattern from a seed pair (see the module docstring); None when it falls below min_support.

    Until the pattern has ``core`` positions, the position most shared by its records joins;
    after that only the closure (positions set in >= ``closure`` of its records) does, so the
    pattern stops at the records holding one token instead of wandering into a sub-population."""
    positions = list(seed)
    rows = np.flatnonzero(work[:, seed[0]] & work[:, seed[1]])
    while len(rows) >= min_support:
        support = work[rows].sum(axis=0, dtype=np.int64)
        support[positions] = -1
        closed = np.flatnonzero(support >= closure * len(rows))
        if len(closed):
            positions.extend(int(p) for p in closed)
            rows = rows[np.all(work[np.ix_(rows, closed)], axis=1)]
            continue
        if len(positions) >= core:
            return Pattern(np.array(sorted(positions)), rows)
        best = int(np.argmax(support))
        positions.append(best)
        rows = rows[work[rows, best]]
    return None


def mine_patterns(
    bits: np.ndarray,
    *,
    min_support: int,
    max_patterns: int = 400,
    seeds_per_round: int = 40,
    closure: float = 0.97,
    core: int = 8,
    ubiquitous: float = 0.9,
) -> list[Pattern]:
    """Frequent bit patterns, most supported first found, with deflation between rounds."""
    work = bits.astype(bool).copy()
    frequency = work.mean(axis=0)
    work[:, frequency >= ubiquitous] = False  # bits nearly every record has say nothing
    patterns: list[Pattern] = []
    tried: set[tuple[int, int]] = set()
    while len(patterns) < max_patterns:
        z = _cooccurrence_z(work)
        order = np.argsort(z, axis=None)[::-1]
        found = 0
        for flat in order[: seeds_per_round * 20]:
            i, j = divmod(int(flat), z.shape[0])
            if i > j or (i, j) in tried or z[i, j] < 4.0:
                continue
            tried.add((i, j))
            pattern = grow(work, (i, j), closure=closure, core=core, min_support=min_support)
            if pattern is None or len(pattern.positions) < 4:
                continue
            patterns.append(pattern)
            work[np.ix_(pattern.rows, pattern.positions)] = False  # deflate
            found += 1
            if found >= seeds_per_round or len(patterns) >= max_patterns:
                break
        if not found:
            break
    return patterns


def _name_feature_bits(schema) -> int:
    """Bits per name character the schema declares (public); 0 when names are not unigram-hashed."""
    try:
        feature = schema.feature("name")
    except KeyError:
        return 0
    if feature.hashing is None:
        return 0
    ks = feature.hashing.strategy.bits_per_token(2)
    return int(ks[0]) if ks else 0


def pattern_mining_attack(view: MatcherView, knowledge: PublicKnowledge, *, min_support: int | None = None) -> Guesses:
    """Mine frequent bit patterns, align them with name characters, re-identify surnames and names."""
    from aidlink.gateway.normalize.surnames import split_surname

    n = len(view)
    guesses = Guesses(n)
    for attribute in ("surname", "name"):
        guesses.for_attribute(attribute)
    k = _name_feature_bits(view.schema)
    if n < 10 or k == 0:
        return guesses
    bits = view.bits.astype(bool)
    support_floor = min_support if min_support is not None else max(5, n // 4000)
    patterns = [
        p for p in mine_patterns(bits, min_support=support_floor) if len(p.positions) >= min(k, bits.shape[1] // 8)
    ]
    # Deduplicate patterns that select (almost) the same records: keep the first found.
    kept: list[Pattern] = []
    for pattern in sorted(patterns, key=lambda p: -p.support):
        rows = set(pattern.rows.tolist())
        if any(len(rows & set(q.rows.tolist())) > 0.8 * min(len(rows), q.support) for q in kept):
            continue
        kept.append(pattern)
    scale = n / max(1, knowledge.size)
    characters = sorted(knowledge.name_characters.items(), key=lambda kv: (-kv[1], kv[0]))
    labels = {i: ch for i, (ch, _) in enumerate(characters[: len(kept)])}
    del scale
    holds = np.zeros((n, len(kept)), dtype=bool)
    for index, pattern in enumerate(kept):
        holds[:, index] = bits[:, pattern.positions].all(axis=1)
    surname_rank = {s: r for r, (s, _) in enumerate(knowledge.surnames.most_common())}
    given_rank = {c: r for r, (c, _) in enumerate(knowledge.given_characters.most_common())}
    for row in range(n):
        chars = [labels[int(i)] for i in np.flatnonzero(holds[row]) if int(i) in labels]
        surnames = sorted((c for c in chars if c in surname_rank), key=surname_rank.__getitem__)
        if not surnames:
            continue
        surname = surnames[0]
        given = sorted((c for c in chars if c != surname and c in given_rank), key=given_rank.__getitem__)[:2]
        guesses.values["surname"][row] = split_surname(surname)[0]
        guesses.values["name"][row] = surname + "".join(given) if given else None
    return guesses
