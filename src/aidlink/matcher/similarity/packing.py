"""Pack fixed-length binary encodings (CLKs) into uint64 word rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aidlink.matcher.similarity.popcount import row_popcounts

WORD_BYTES = 8

Encodings = Sequence[Any] | np.ndarray


def _encoding_bytes(index: int, encoding: Any) -> memoryview:
    """The raw bytes of one encoding (bytes, bytearray, memoryview or bitarray)."""
    if isinstance(encoding, str):
        raise TypeError(f"encoding {index} is a str; expected bytes (decode base64 CLKs first)")
    try:
        view = memoryview(encoding)
    except TypeError:
        raise TypeError(f"encoding {index} is a {type(encoding).__name__}; expected a bytes-like object") from None
    padbits = getattr(encoding, "padbits", 0)  # bitarray whose length is not whole bytes
    if padbits:
        raise ValueError(
            f"encoding {index} is {len(encoding)} bits; encodings must be a multiple of {WORD_BYTES * 8} bits"
        )
    return view.cast("B") if view.ndim == 1 and view.format != "B" else view


def _check_width(nbytes: int, where: str) -> None:
    if nbytes == 0 or nbytes % WORD_BYTES:
        raise ValueError(
            f"{where} is {nbytes} bytes ({nbytes * 8} bits); encodings must be a non-zero "
            f"multiple of {WORD_BYTES} bytes ({WORD_BYTES * 8} bits)"
        )


def _pack_array(encodings: np.ndarray) -> np.ndarray:
    if encodings.ndim != 2:
        raise ValueError(f"encoding array must be 2-D (records, bytes or words); got shape {encodings.shape}")
    if encodings.shape[0] == 0:
        return np.zeros((0, 0), dtype=np.uint64)
    if encodings.dtype == np.uint64:
        return np.ascontiguousarray(encodings)
    if encodings.dtype == np.uint8:
        _check_width(encodings.shape[1], "encoding 0")
        return np.ascontiguousarray(encodings).view(np.uint64).copy()
    raise TypeError(f"encoding array has dtype {encodings.dtype}; expected uint8 (bytes) or uint64 (words)")


def pack(encodings: Encodings) -> np.ndarray:
    """Pack equal-length encodings into a C-contiguous ``(n, words)`` uint64 array.

    Accepts a sequence of bytes-like encodings (bytes, bytearray, memoryview, bitarray),
    a 2-D uint8 array of bytes, or an already packed 2-D uint64 array. Bytes keep their
    order in memory (as anonlink reads them), so Dice scores do not depend on byte order.
    An empty input gives a ``(0, 0)`` array.
    """
    if isinstance(encodings, np.ndarray) and encodings.dtype != object:
        return _pack_array(encodings)
    views = [_encoding_bytes(i, enc) for i, enc in enumerate(encodings)]
    if not views:
        return np.zeros((0, 0), dtype=np.uint64)
    nbytes = views[0].nbytes
    _check_width(nbytes, "encoding 0")
    for i, view in enumerate(views):
        if view.nbytes != nbytes:
            raise ValueError(
                f"encoding {i} is {view.nbytes} bytes but encoding 0 is {nbytes} bytes; "
                "all encodings must have the same length"
            )
    raw = np.frombuffer(b"".join(views), dtype=np.uint8).reshape(len(views), nbytes)
    return raw.view(np.uint64).copy()


def popcounts(packed: np.ndarray) -> np.ndarray:
    """Number of set bits per row of a packed array, as int64."""
    if packed.ndim != 2 or packed.dtype != np.uint64:
        raise ValueError(f"expected a packed (n, words) uint64 array; got {packed.dtype} {packed.shape}")
    return row_popcounts(np.ascontiguousarray(packed))
