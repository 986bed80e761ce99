"""Attack (c): similarity-graph matching (Vidanage et al., CIKM 2020; Schäfer et al. 2024).

The attacker holds a plaintext dataset that shares some persons with the matcher's (``overlap``
of the encoded records: 5 %, 25 %, 100 %; the rest are other people). It never needs the
secret: similarity *structure* survives encoding.

1. **Two similarity graphs.** Encoded side: every pair of the matcher's encodings with Dice
   at or above a threshold is an edge (the matcher's own similarity kernel). Plaintext side:
   the attacker encodes its plaintext with the public schema under a key of its own and joins it
   the same way, so that an edge weight is the schema-weighted q-gram Dice of the two records.
   Each side's threshold is the similarity quantile that gives ``degree`` neighbours per node
   on average (quantile matching removes the scale difference between the two sides).
2. **Node features.** Per node: degree, mean/max/min/std of its edge similarities, a histogram
   of them, the mean and max degree of its neighbours, and its bit count (the length of what
   was encoded).
3. **Matching.** Features are standardised on each side; each encoded node is paired with its
   nearest plaintext node, and only mutual nearest pairs within ``max_distance`` are kept. A kept
   pair re-identifies every attribute of the plaintext record.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.spatial import cKDTree

from aidlink.bench.privacy.knowledge import PublicKnowledge, normalized
from aidlink.bench.privacy.scoring import Guesses
from aidlink.bench.privacy.view import ATTRIBUTES, MatcherView, person_truth
from aidlink.gateway.encoding import Encoder, LinkageSchema, RecordError
from aidlink.gateway.synthetic import SyntheticPopulation
from aidlink.matcher.similarity import candidate_pairs, pack, popcounts

HISTOGRAM_BINS = 6


def _threshold_for_degree(packed: np.ndarray, counts: np.ndarray, degree: float, rng: np.random.Generator) -> float:
    """The Dice threshold at which a node has ``degree`` neighbours on average (from sampled pairs)."""
    n = len(packed)
    samples = min(400_000, n * (n - 1) // 2)
    i = rng.integers(0, n, samples)
    j = rng.integers(0, n, samples)
    keep = i != j
    i, j = i[keep], j[keep]
    common = np.bitwise_count(packed[i] & packed[j]).sum(axis=1)
    total = counts[i] + counts[j]
    dice = np.where(total > 0, 2.0 * common / np.maximum(total, 1), 0.0)
    share = min(1.0, degree / max(1, n - 1))
    return float(np.quantile(dice, 1.0 - share))


def degree_threshold(encodings: np.ndarray, degree: float, seed: int) -> float:
    """The Dice threshold that gives ``degree`` neighbours per node on average."""
    packed = pack(encodings)
    counts = popcounts(packed).astype(np.int64)
    return max(_threshold_for_degree(packed, counts, degree, np.random.default_rng(seed)), 1e-6)


def similarity_graph(encodings: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i < j) and their Dice of every pair at or above ``threshold``."""
    packed = pack(encodings)
    pairs = candidate_pairs(packed, packed, threshold)
    keep = pairs.a_index < pairs.b_index
    return pairs.a_index[keep], pairs.b_index[keep], pairs.scores[keep]


def node_features(n: int, a: np.ndarray, b: np.ndarray, sims: np.ndarray, bitcounts: np.ndarray) -> np.ndarray:
    """Per-node structural features of a similarity graph (see the module docstring)."""
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    w = np.concatenate([sims, sims])
    degree = np.bincount(src, minlength=n).astype(np.float64)
    total = np.bincount(src, weights=w, minlength=n)
    squares = np.bincount(src, weights=w * w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(degree > 0, total / degree, 0.0)
        std = np.sqrt(np.maximum(np.where(degree > 0, squares / degree, 0.0) - mean * mean, 0.0))
    top = np.zeros(n)
    np.maximum.at(top, src, w)
    low = np.full(n, np.inf)
    np.minimum.at(low, src, w)
    low[~np.isfinite(low)] = 0.0
    if len(w):
        edges = np.quantile(w, np.linspace(0, 1, HISTOGRAM_BINS + 1)[1:-1])
        bins = np.searchsorted(edges, w)
    else:
        bins = np.zeros(0, dtype=np.int64)
    histogram = np.zeros((n, HISTOGRAM_BINS))
    np.add.at(histogram, (src, bins), 1.0)
    neighbour_degree = np.bincount(src, weights=degree[dst], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        neighbour_mean = np.where(degree > 0, neighbour_degree / degree, 0.0)
    neighbour_max = np.zeros(n)
    np.maximum.at(neighbour_max, src, degree[dst])
    columns = [np.log1p(degree), mean, top, low, std, np.log1p(neighbour_mean), np.log1p(neighbour_max), bitcounts]
    return np.column_stack(columns + [histogram[:, k] / np.maximum(degree, 1) for k in range(HISTOGRAM_BINS)])


def neighbour_profile(n: int, a: np.ndarray, b: np.ndarray, sims: np.ndarray, width: int) -> np.ndarray:
    """Each node's ``width`` highest edge similarities, in descending order (0 where it has fewer)."""
    src = np.concatenate([a, b])
    w = np.concatenate([sims, sims])
    order = np.lexsort((-w, src))
    src, w = src[order], w[order]
    starts = np.searchsorted(src, np.arange(n))
    rank = np.arange(len(src)) - starts[src]
    keep = rank < width
    profile = np.zeros((n, width))
    profile[src[keep], rank[keep]] = w[keep]
    return profile


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def auxiliary_dataset(
    truth_persons: list, overlap: float, *, aux_seed: int, knowledge: PublicKnowledge | None = None
) -> list:
    """The attacker's plaintext: ``overlap`` of the encoded persons plus other people, as many as encoded."""
    n = len(truth_persons)
    rng = np.random.default_rng(aux_seed)
    shared = int(round(n * overlap))
    chosen = [truth_persons[i] for i in rng.choice(n, shared, replace=False)] if shared else []
    others = n - shared
    if others:
        pool = list(knowledge.persons) if knowledge is not None and knowledge.size >= others else []
        if not pool:
            pool = SyntheticPopulation.generate(others, seed=aux_seed).persons
        chosen.extend(pool[i] for i in rng.choice(len(pool), others, replace=False))
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order]


def attacker_encodings(persons: list, schema: LinkageSchema, attacker_seed: int) -> np.ndarray:
    """The attacker's own encoding of its plaintext: public schema, a key of its own."""
    key = hashlib.sha256(f"aidlink bench privacy: attacker key {attacker_seed}".encode()).digest()
    encoder = Encoder(schema, key)
    out = np.zeros((len(persons), encoder.length_bytes), dtype=np.uint8)
    for row, person in enumerate(persons):
        try:
            out[row] = np.frombuffer(encoder.encode(normalized(person).features), dtype=np.uint8)
        except RecordError:
            continue
    return out


def graph_matching_attack(
    view: MatcherView,
    plaintext_persons: list,
    *,
    degree: float = 10.0,
    max_distance: float = 2.0,
    profile_width: int = 10,
    profile_weight: float = 20.0,
    seed: int = 0,
) -> Guesses:
    """Re-identify records by matching similarity-graph node features (see the module docstring)."""
    n = len(view)
    guesses = Guesses(n)
    for attribute in ATTRIBUTES:
        guesses.for_attribute(attribute)
    if n < 3 or len(plaintext_persons) < 3:
        return guesses
    plain = attacker_encodings(plaintext_persons, view.schema, seed)
    # One threshold for both graphs: the attacker's encodings come from the same public schema, so
    # similarities are on the same scale and the graphs are near-isomorphic on shared persons.
    threshold = degree_threshold(view.encodings, degree, seed)
    sides = []
    for encodings in (view.encodings, plain):
        a, b, sims = similarity_graph(encodings, threshold)
        counts = popcounts(pack(encodings)).astype(np.float64)
        structure = node_features(len(encodings), a, b, sims, counts)
        sides.append((neighbour_profile(len(encodings), a, b, sims, profile_width), structure))
    scale = np.vstack([sides[0][1], sides[1][1]]).std(axis=0)
    scale[scale == 0] = 1.0
    enc_f, plain_f = (np.hstack([profile * profile_weight, structure / scale]) for profile, structure in sides)
    enc_tree, plain_tree = cKDTree(enc_f), cKDTree(plain_f)
    distance, nearest = plain_tree.query(enc_f)
    _, back = enc_tree.query(plain_f)
    rows = np.flatnonzero((back[nearest] == np.arange(n)) & (distance <= max_distance))
    values = [person_truth(plaintext_persons[int(nearest[r])]) for r in rows]
    for attribute in ATTRIBUTES:
        guesses.set(attribute, rows, np.array([v[attribute] for v in values], dtype=object))
    return guesses
