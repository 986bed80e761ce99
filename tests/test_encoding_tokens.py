"""Tokenizers and insertion strategies, checked against clkhash's documented examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aidlink.gateway.encoding.strategy import BitsPerFeature, BitsPerToken
from aidlink.gateway.encoding.tokens import ExactTokenizer, NgramTokenizer, NumericTokenizer


def test_bigrams_are_space_padded() -> None:
    assert NgramTokenizer(2)("clkhash") == [" c", "cl", "lk", "kh", "ha", "as", "sh", "h "]


def test_positional_bigrams_carry_one_based_position() -> None:
    assert NgramTokenizer(2, positional=True)("clkhash") == [
        "1  c",
        "2 cl",
        "3 lk",
        "4 kh",
        "5 ha",
        "6 as",
        "7 sh",
        "8 h ",
    ]


def test_unigrams_are_not_padded() -> None:
    assert NgramTokenizer(1)("王丽") == ["王", "丽"]
    assert NgramTokenizer(1, positional=True)("1990") == ["1 1", "2 9", "3 9", "4 0"]


def test_trigrams_pad_two_spaces_and_keep_duplicates() -> None:
    assert NgramTokenizer(3)("aaa") == ["  a", " aa", "aaa", "aa ", "a  "]


def test_empty_value_has_no_tokens() -> None:
    assert NgramTokenizer(2)("") == []
    assert ExactTokenizer()("") == []


def test_exact_is_the_whole_value() -> None:
    assert ExactTokenizer()("320102199001011234") == ["320102199001011234"]


def test_ngram_rejects_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        NgramTokenizer(0)


def test_numeric_neighbourhood_matches_clkhash_docstring() -> None:
    # clkhash: threshold 8, resolution 2 -> x=25 gives [88, 96, 104, 112, 120]
    assert NumericTokenizer(8, 2)("25") == ["88", "96", "104", "112", "120"]


def test_numeric_close_values_share_tokens_far_values_do_not() -> None:
    tok = NumericTokenizer(5, 3)
    assert set(tok("40")) & set(tok("42"))
    assert not set(tok("40")) & set(tok("60"))


def test_numeric_fractional_precision() -> None:
    tok = NumericTokenizer(2.5, 2, fractional_precision=1)
    assert tok("72.4") == tok("72.40")
    with pytest.raises(ValueError):
        tok("seventy")


@given(st.text(min_size=1, max_size=30), st.integers(min_value=1, max_value=4))
def test_ngram_count_is_length_plus_padding(word: str, n: int) -> None:
    tokens = NgramTokenizer(n)(word)
    assert len(tokens) == len(word) + n - 1
    assert all(len(t) == n for t in tokens)


def test_bits_per_feature_spreads_remainder_over_first_tokens() -> None:
    assert BitsPerFeature(10).bits_per_token(4) == (3, 3, 2, 2)
    assert BitsPerFeature(7).bits_per_token(9) == (1,) * 7 + (0, 0)
    assert BitsPerFeature(5).bits_per_token(0) == ()


@given(st.integers(min_value=1, max_value=500), st.integers(min_value=1, max_value=80))
def test_bits_per_feature_sums_to_total(total: int, n: int) -> None:
    ks = BitsPerFeature(total).bits_per_token(n)
    assert len(ks) == n and sum(ks) == total and max(ks) - min(ks) <= 1


def test_bits_per_token_is_constant() -> None:
    assert BitsPerToken(6).bits_per_token(3) == (6, 6, 6)
