"""Fast Sørensen–Dice similarity join for fixed-length binary encodings (CLKs)."""

from aidlink.matcher.similarity.candidates import AnonlinkCandidates, CandidatePairs
from aidlink.matcher.similarity.dice import candidate_pairs, iter_candidate_chunks
from aidlink.matcher.similarity.greedy import greedy_link_pairs, greedy_links
from aidlink.matcher.similarity.packing import pack, popcounts

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
