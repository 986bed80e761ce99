"""Fast Sørensen–Dice similarity join for fixed-length binary encodings (CLKs)."""

from matcher.similarity.candidates import AnonlinkCandidates, CandidatePairs
from matcher.similarity.dice import candidate_pairs, iter_candidate_chunks
from matcher.similarity.greedy import greedy_link_pairs, greedy_links
from matcher.similarity.packing import pack, popcounts

__all__ = [
    "AnonlinkCandidates",
    "CandidatePairs",
    "candidate_pairs",
    "greedy_link_pairs",
    "greedy_links",
    "iter_candidate_chunks",
    "pack",
    "popcounts",
]
