"""Packing encodings into uint64 rows, and per-row popcounts."""

from __future__ import annotations

from array import array

import numpy as np
import pytest
from bitarray import bitarray

from aidlink.matcher.similarity import pack, popcounts


def test_packs_bytes_into_contiguous_uint64_rows_keeping_byte_order() -> None:
    rows = [bytes(range(16)), bytes(range(16, 32))]
    packed = pack(rows)
    assert packed.dtype == np.uint64 and packed.shape == (2, 2)
    assert packed.flags.c_contiguous
    assert packed.tobytes() == rows[0] + rows[1]


def test_accepts_bytearray_memoryview_bitarray_and_uint8_arrays_alike() -> None:
    raw = np.random.default_rng(3).integers(0, 256, size=(3, 16), dtype=np.uint8)
    expected = pack([bytes(r) for r in raw])
    as_bits = []
    for r in raw:
        bits = bitarray()
        bits.frombytes(bytes(r))
        as_bits.append(bits)
    for form in ([bytearray(r) for r in raw], [memoryview(bytes(r)) for r in raw], as_bits, raw):
        assert np.array_equal(pack(form), expected)
    assert pack(expected) is expected or np.array_equal(pack(expected), expected)


def test_popcounts_count_set_bits_per_row() -> None:
    rows = [b"\x00" * 8, b"\xff" * 8, b"\x01" + b"\x00" * 6 + b"\x80", bytes([0b1011]) * 8]
    assert popcounts(pack(rows)).tolist() == [0, 64, 2, 24]
    assert popcounts(pack(rows)).dtype == np.int64


def test_empty_input_packs_to_zero_rows() -> None:
    assert pack([]).shape == (0, 0)
    assert pack(np.zeros((0, 128), dtype=np.uint8)).shape == (0, 0)
    assert popcounts(pack([])).shape == (0,)


def test_unequal_lengths_name_the_offending_encoding() -> None:
    with pytest.raises(ValueError, match=r"encoding 2 is 8 bytes but encoding 0 is 16 bytes"):
        pack([bytes(16), bytes(16), bytes(8)])


def test_length_not_a_multiple_of_8_bytes_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"encoding 0 is 12 bytes \(96 bits\).*multiple of 8"):
        pack([bytes(12), bytes(12)])
    with pytest.raises(ValueError, match=r"multiple of 8"):
        pack(np.zeros((2, 12), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"encoding 0 is 0 bytes"):
        pack([b""])


def test_bitarray_with_partial_bytes_is_rejected() -> None:
    bits = bitarray(100)
    bits.setall(0)
    with pytest.raises(ValueError, match=r"encoding 1 is 100 bits"):
        pack([bytes(16), bits])


def test_wrong_types_are_rejected_with_the_index() -> None:
    with pytest.raises(TypeError, match=r"encoding 1 is a str"):
        pack([bytes(8), "AAAAAAAAAAA="])
    with pytest.raises(TypeError, match=r"encoding 0 is a int"):
        pack([5])
    with pytest.raises(TypeError, match=r"dtype float64"):
        pack(np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r"must be 2-D"):
        pack(np.zeros(8, dtype=np.uint8))


def test_non_byte_buffers_are_read_as_raw_bytes() -> None:
    words = array("Q", [1, 2])
    assert pack([words]).tolist() == [[1, 2]]
