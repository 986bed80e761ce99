"""Attack (b): Bloom-filter pattern mining, in the style of Christen et al. (2017, 2018).

Every record holding a token (a name character, a pinyin bigram, a birth-year digit...) has all
of that token's k bit positions set. Records sharing a value therefore share a *frequent bit
pattern*: positions all set together far more often than chance.

1. **Mine patterns** (:func:`mine_patterns`). Seeds are position pairs that co-occur most above
   independence. From a seed, the records holding every position of the pattern are selected and
   the position they most often share joins, until the pattern is *closed*: at least
   ``min_positions`` positions are set in ``closure`` of its records. The closure is taken on the
   original bits; the pattern is then removed from its records (deflation), so rarer patterns
   hidden under it come up in the next round (Christen et al.'s partitioning).
2. **Predict patterns from public knowledge** (:func:`expected_patterns`). The schema is public,
   so for each candidate value — a name character, a birth year, a birth decade — the attacker
   tokenizes its own auxiliary population and finds which tokens every holder of the value
   shares (the character's own, its pinyin's bigrams, the sex token of a single-sex given-name
   character, ...). That predicts the pattern's support (how many records) and closure size (how
   many bits), neither of which depends on the key.
3. **Align** mined patterns with predicted ones by minimum-cost assignment on (log support,
   closure size) (scipy's Hungarian solver), leaving a pattern unassigned when nothing fits.
4. **Re-identify.** A record holds a pattern when >= ``hold_share`` of its positions are set. Its
   surname is the held character most likely to be a surname (public surname/given-name
   shares); its full name adds the held given-name characters in their most frequent order.
   Birth date and ID number are not re-identified by this attack (a year is not a date).

Hardening: BLIP lowers the closure threshold by the (public) flip probability. Balanced encodings
need nothing special: the filter half keeps every token's positions, the complement half is
either dense (left out with the ubiquitous positions) or never all-set among a token's holders.
XOR-folding is *not* adapted to: a folded bit is the parity of two filter bits, so a token's
positions are set in only ~70 % of its holders and the all-set patterns this miner looks for do
not exist; a 0 % there is a limit of this attack, not evidence of protection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from aidlink.bench.privacy.knowledge import PublicKnowledge
from aidlink.bench.privacy.scoring import Guesses
from aidlink.bench.privacy.view import MatcherView
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.normalize.surnames import split_surname

UBIQUITOUS = 0.9  # positions (and tokens) at least this frequent say nothing and are left out
SHARED = 0.97  # a token is part of a value's predicted pattern when this share of its holders has it


@dataclass(frozen=True)
class Pattern:
    positions: np.ndarray  # sorted bit positions (the closure)
    rows: np.ndarray  # records holding it

    @property
    def support(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class ExpectedPattern:
    """A value the attacker can recognise: what its pattern should look like."""

    kind: str  # "character", "year", "decade"
    value: str
    support: float  # expected records holding it in the matcher's dataset
    bits: float  # expected closure size
    tokens: dict[tuple[str, str], int]  # the tokens every holder shares -> bits each sets


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


def grow(
    work: np.ndarray,
    work_t: np.ndarray,
    seed: tuple[int, int],
    *,
    closure: float,
    min_positions: int,
    min_support: int,
) -> np.ndarray | None:
    """Positions of a closed pattern grown from a seed pair, or None (see the module docstring).
    ``work_t`` is ``work`` transposed (positions x records), for fast column access."""
    positions = list(seed)
    rows = np.flatnonzero(work_t[seed[0]] & work_t[seed[1]])
    while len(rows) >= min_support:
        support = work[rows].sum(axis=0, dtype=np.int32)
        closed = np.flatnonzero(support >= closure * len(rows))
        if len(closed) >= min_positions:
            return closed
        support[positions] = -1
        best = int(np.argmax(support))
        positions.append(best)
        rows = rows[work[rows, best]]
    return None


def holders(bits_t: np.ndarray, positions: np.ndarray, share: float) -> np.ndarray:
    """Records with at least ``share`` of ``positions`` set (``bits_t``: positions x records)."""
    return np.flatnonzero(bits_t[positions].sum(axis=0, dtype=np.int32) >= share * len(positions))


class _Miner:
    """The mining state: original bits, the deflated working copy and the patterns found so far."""

    def __init__(self, bits: np.ndarray, *, min_support: int, min_positions: int, closure: float, hold_share: float):
        self.original = bits.astype(bool)
        self.usable = self.original.mean(axis=0) < UBIQUITOUS
        self.work = self.original & self.usable
        self.original_t = np.ascontiguousarray(self.original.T)
        self.work_t = np.ascontiguousarray(self.work.T)
        self.min_support = min_support
        self.min_positions = min_positions
        self.closure = closure
        self.hold_share = hold_share
        self.patterns: list[Pattern] = []

    def settle(self, candidate: np.ndarray, rows: np.ndarray | None = None) -> bool:
        """Close ``candidate`` on the original bits (deflation must not shrink a pattern), alternating
        records <- holders(positions) and positions <- closure(records) until stable; keep it if it
        is large and frequent enough and new. Its records and positions are deflated either way."""
        positions = candidate
        if rows is None:
            rows = holders(self.original_t, positions, 1.0)
        first = rows
        for _ in range(6):
            if len(rows) < self.min_support:
                break
            closed = np.flatnonzero((self.original[rows].mean(axis=0) >= self.closure) & self.usable)
            rows = holders(self.original_t, closed, self.hold_share)
            if np.array_equal(closed, positions):
                break
            positions = closed
        if len(rows) < self.min_support or len(positions) < self.min_positions:
            self._deflate(first, candidate)
            return False
        self._deflate(rows, positions)
        if any(_same(rows, p.rows) for p in self.patterns):
            return False
        self.patterns.append(Pattern(positions, rows))
        return True

    def _deflate(self, rows: np.ndarray, positions: np.ndarray) -> None:
        self.work[np.ix_(rows, positions)] = False
        self.work_t[np.ix_(positions, rows)] = False

    def from_pairs(self, *, max_patterns: int, seeds_per_round: int, min_z: float) -> None:
        """Phase 1: grow patterns from the position pairs that co-occur most above chance."""
        tried: set[tuple[int, int]] = set()
        while len(self.patterns) < max_patterns:
            z = _cooccurrence_z(self.work)
            order = np.argsort(z, axis=None)[::-1]
            found = 0
            for flat in order[: seeds_per_round * 30]:
                i, j = divmod(int(flat), z.shape[0])
                if z[i, j] < min_z:
                    break
                if i > j or (i, j) in tried:
                    continue
                tried.add((i, j))
                grown = grow(
                    self.work,
                    self.work_t,
                    (i, j),
                    closure=self.closure,
                    min_positions=self.min_positions,
                    min_support=self.min_support,
                )
                if grown is not None and self.settle(grown):
                    found += 1
                    if found >= seeds_per_round or len(self.patterns) >= max_patterns:
                        break
            if not found:
                break

    def from_records(self, *, max_anchors: int, neighbours: int, share: float) -> None:
        """Phase 2, for patterns too rare for pairwise statistics: anchor on the record with the most
        unexplained bits; its ``neighbours`` records sharing most of those bits hold its rare tokens
        too, so the bits set in ``share`` of them are a candidate pattern."""
        tried = np.zeros(len(self.work), dtype=bool)
        done = 0
        while done < max_anchors:
            residual = self.work.sum(axis=1)
            residual[tried] = -1
            batch = np.argsort(-residual, kind="stable")[: min(50, max_anchors - done)]
            batch = batch[residual[batch] >= self.min_positions]
            if not len(batch):
                break
            for anchor in batch:
                tried[anchor] = True
                done += 1
                own = np.flatnonzero(self.work[anchor])
                if len(own) < self.min_positions:
                    continue
                overlap = self.work_t[own].sum(axis=0, dtype=np.int32)
                overlap[anchor] = -1
                nearest = np.argpartition(-overlap, neighbours)[:neighbours]
                candidate = own[self.work[np.ix_(nearest, own)].mean(axis=0) >= share]
                if len(candidate) >= self.min_positions:
                    self.settle(candidate)


def mine_patterns(
    bits: np.ndarray,
    *,
    min_support: int,
    min_positions: int,
    max_patterns: int = 600,
    seeds_per_round: int = 60,
    closure: float = 0.97,
    hold_share: float = 0.9,
    min_z: float = 3.0,
    max_anchors: int = 0,
    neighbours: int = 8,
    anchor_share: float = 0.75,
) -> list[Pattern]:
    """Closed frequent bit patterns of at least ``min_positions`` positions, with deflation:
    from co-occurring pairs first, then (``max_anchors`` > 0) anchored on unexplained records."""
    miner = _Miner(bits, min_support=min_support, min_positions=min_positions, closure=closure, hold_share=hold_share)
    miner.from_pairs(max_patterns=max_patterns, seeds_per_round=seeds_per_round, min_z=min_z)
    if max_anchors:
        miner.from_records(max_anchors=max_anchors, neighbours=neighbours, share=anchor_share)
    return miner.patterns


def _same(a: np.ndarray, b: np.ndarray, share: float = 0.8) -> bool:
    """Whether two sorted row sets are nearly the same records (Jaccard >= share)."""
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common >= share * (len(a) + len(b) - common)


def _record_tokens(schema: LinkageSchema, features: dict[str, str]) -> dict[tuple[str, str], int]:
    """(feature, token) -> bits it sets, for one record under ``schema`` (unsalted)."""
    out: dict[tuple[str, str], int] = {}
    for feature in schema.features:
        if feature.hashing is None:
            continue
        value = features.get(feature.identifier) or ""
        missing = feature.hashing.missing_value
        if not value and missing is None:
            continue
        try:
            tokens = feature.tokens(value)
        except ValueError:
            continue
        for token, k in zip(tokens, feature.hashing.strategy.bits_per_token(len(tokens)), strict=True):
            key = (feature.identifier, token)
            out[key] = max(out.get(key, 0), k)
    return out


def expected_patterns(
    schema: LinkageSchema, knowledge: PublicKnowledge, n: int, length_bits: int, ubiquitous_share: float
) -> list[ExpectedPattern]:
    """What the pattern of each recognisable value should look like in ``n`` records (public knowledge only)."""
    records = [_record_tokens(schema, f) for f in knowledge.features]
    size = len(records)
    if size == 0:
        return []
    token_records: Counter[tuple[str, str]] = Counter()
    for tokens in records:
        token_records.update(tokens.keys())
    common = {t for t, c in token_records.items() if c >= UBIQUITOUS * size}
    groups: dict[tuple[str, str], list[int]] = {}
    for index, person in enumerate(knowledge.persons):
        for ch in set(person.name):
            groups.setdefault(("character", ch), []).append(index)
        year = knowledge.features[index]["birth_date"][:4]
        if year:
            groups.setdefault(("year", year), []).append(index)
            groups.setdefault(("decade", year[:3]), []).append(index)
    scale = n / size
    out = []
    for (kind, value), members in groups.items():
        if len(members) * scale < 2:
            continue
        shared: Counter[tuple[str, str]] = Counter()
        for index in members:
            shared.update(records[index].keys())
        tokens = {
            t: _bits_of(records, members, t)
            for t, c in shared.items()
            if c >= SHARED * len(members) and t not in common
        }
        distinct = _distinct(sum(tokens.values()), length_bits)
        out.append(ExpectedPattern(kind, value, len(members) * scale, distinct * (1 - ubiquitous_share), tokens))
    return out


def _distinct(insertions: float, length_bits: int) -> float:
    """Expected distinct positions set by ``insertions`` keyed-random insertions."""
    return length_bits * (1 - (1 - 1 / length_bits) ** insertions)


def _bits_of(records: list[dict[tuple[str, str], int]], members: list[int], token: tuple[str, str]) -> int:
    for index in members:
        if token in records[index]:
            return records[index][token]
    return 0


def _assign(cost: np.ndarray, max_cost: float) -> dict[int, int]:
    padded = np.hstack([cost, np.full((cost.shape[0], cost.shape[0]), max_cost)])
    rows, cols = linear_sum_assignment(padded)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if c < cost.shape[1]}


def align(
    patterns: list[Pattern],
    expected: list[ExpectedPattern],
    length_bits: int,
    *,
    max_cost: float = 9.0,
    rounds: int = 12,
    overlap_sigma: float = 3.0,
    structure_weight: float = 4.0,
    confident: float = 3.0,
) -> dict[int, int]:
    """Pattern index -> expected index, by minimum total cost (scipy's Hungarian solver).

    First on each pattern's own (log support, closure size); then, for a few rounds, also on how
    many positions it shares with every other aligned pattern against how many bits the two
    predicted values share (common pinyin bigrams, the sex token, ...): a key-independent
    fingerprint, as in graph matching."""
    if not patterns or not expected:
        return {}
    support = np.array([p.support for p in patterns], dtype=np.float64)
    size = np.array([len(p.positions) for p in patterns], dtype=np.float64)
    e_support = np.array([e.support for e in expected])
    e_size = np.array([e.bits for e in expected])
    sigma_f = 0.12 + 1.0 / np.sqrt(np.maximum(e_support, 1.0))
    own = ((np.log(support)[:, None] - np.log(e_support)[None, :]) / sigma_f[None, :]) ** 2
    own += ((size[:, None] - e_size[None, :]) / 3.0) ** 2
    assignment = _assign(own, max_cost)
    masks = np.zeros((len(patterns), length_bits), dtype=np.float32)
    for index, pattern in enumerate(patterns):
        masks[index, pattern.positions] = 1.0
    observed = masks @ masks.T  # shared positions between mined patterns
    total = own
    for _ in range(rounds):
        # Anchors: aligned patterns whose cost is low; the structure term compares every pattern with them.
        anchors = np.array(sorted(i for i, e in assignment.items() if total[i, e] <= confident), dtype=np.int64)
        if len(anchors) < 3:
            anchors = np.array(sorted(assignment), dtype=np.int64)
        if len(anchors) < 3:
            break
        labels = [assignment[int(a)] for a in anchors]
        predicted = np.array(
            [[_shared_bits(e, expected[label], length_bits) for label in labels] for e in expected], dtype=np.float32
        )
        seen = observed[:, anchors]
        fit = (seen**2).sum(axis=1)[:, None] + (predicted**2).sum(axis=1)[None, :] - 2 * seen @ predicted.T
        total = own + fit / (overlap_sigma**2 * len(anchors)) * structure_weight
        updated = _assign(total, max_cost + structure_weight)
        if updated == assignment:
            break
        assignment = updated
    return assignment


def _shared_bits(a: ExpectedPattern, b: ExpectedPattern, length_bits: int) -> float:
    """Expected positions two values' patterns share: common tokens, plus chance collisions."""
    if a is b:
        return a.bits
    common = sum(bits for token, bits in a.tokens.items() if token in b.tokens)
    return _distinct(common, length_bits) + (a.bits - common) * (b.bits - common) / length_bits


def _name_bits(schema: LinkageSchema) -> int:
    """Bits per name character the schema declares (public); 0 when names are not hashed as characters."""
    try:
        feature = schema.feature("name")
    except KeyError:
        return 0
    if feature.hashing is None:
        return 0
    ks = feature.hashing.strategy.bits_per_token(2)
    return int(ks[0]) if ks else 0


def pattern_mining_attack(
    view: MatcherView,
    knowledge: PublicKnowledge,
    *,
    min_support: int | None = None,
    hold_share: float = 0.9,
    closure: float | None = None,
    max_anchors: int | None = None,
) -> Guesses:
    """Mine frequent bit patterns, align them with predicted ones, re-identify surnames and names."""
    n = len(view)
    guesses = Guesses(n)
    for attribute in ("surname", "name"):
        guesses.for_attribute(attribute)
    k = _name_bits(view.schema)
    if n < 10 or k == 0:
        return guesses
    if closure is None:  # randomized response flips bits: a token's positions are set in 1 - f of its holders
        closure = 0.97 - view.schema.hardening.flip_probability
    bits = view.bits.astype(bool)
    floor = min_support if min_support is not None else max(4, n // 5000)
    ubiquitous_share = float((bits.mean(axis=0) >= UBIQUITOUS).mean())
    expected = expected_patterns(view.schema, knowledge, n, bits.shape[1], ubiquitous_share)
    character_bits = [e.bits for e in expected if e.kind == "character"]
    # The smallest pattern worth mining: most of the smallest predicted character pattern.
    min_positions = max(4, int(0.8 * min(character_bits))) if character_bits else max(4, k)
    patterns = mine_patterns(
        bits,
        min_support=floor,
        min_positions=min_positions,
        closure=closure,
        hold_share=hold_share,
        max_anchors=max_anchors if max_anchors is not None else min(1500, n // 10),
    )
    assignment = align(patterns, expected, bits.shape[1])
    surname_share = {
        ch: knowledge.surnames.get(ch, 0) / max(1, knowledge.name_characters.get(ch, 0))
        for ch in knowledge.name_characters
    }
    for surname in knowledge.surnames:  # compound surnames are two characters
        surname_share.setdefault(surname, 1.0)
    given_names = Counter(split_surname(p.name)[1] for p in knowledge.persons)
    held: list[list[str]] = [[] for _ in range(n)]
    for index, target in assignment.items():
        e = expected[target]
        if e.kind != "character":
            continue
        for row in patterns[index].rows:
            held[int(row)].append(e.value)
    for row, chars in enumerate(held):
        if not chars:
            continue
        surname = max(chars, key=lambda c: (surname_share.get(c, 0.0), knowledge.surnames.get(c, 0), c))
        if surname_share.get(surname, 0.0) == 0.0:
            continue
        guesses.values["surname"][row] = surname
        rest = sorted({c for c in chars if c != surname})
        if 1 <= len(rest) <= 2:
            orders = [rest] if len(rest) == 1 else [rest, rest[::-1]]
            given = max(orders, key=lambda o: (given_names.get("".join(o), 0), "".join(o)))
            guesses.values["name"][row] = surname + "".join(given)
    return guesses
