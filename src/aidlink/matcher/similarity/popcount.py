"""Hardware popcount for numba kernels, and per-row popcounts of packed encodings."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def popcount64(typingctx, word):
    """Population count of one uint64, lowered to LLVM's ``ctpop`` intrinsic.

    LLVM turns ``llvm.ctpop.i64`` into ``popcnt`` (or ``vpopcntq`` when a loop of
    them is vectorised on AVX-512 VPOPCNTDQ), which no pure-Python bit trick
    guarantees.
    """
    if not isinstance(word, types.Integer) or word.bitwidth != 64 or word.signed:
        return None
    signature = types.int64(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.ctpop(args[0])

    return signature, codegen


@njit(cache=True, nogil=True)
def _row_popcounts(words: np.ndarray) -> np.ndarray:
    counts = np.empty(words.shape[0], dtype=np.int64)
    for row in range(words.shape[0]):
        total = 0
        for w in range(words.shape[1]):
            total += popcount64(words[row, w])  # type: ignore[call-arg]  # numba passes typingctx
        counts[row] = total
    return counts


def row_popcounts(words: np.ndarray) -> np.ndarray:
    """Number of set bits in each row of a packed ``(n, words)`` uint64 array."""
    return _row_popcounts(words)
