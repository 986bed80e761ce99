"""HKDF key derivation as clkhash does it."""

from __future__ import annotations

import pytest

from aidlink.gateway.encoding.keyderivation import KdfConfig, derive_feature_keys, hkdf


def test_hkdf_rfc5869_test_case_1() -> None:
    config = KdfConfig(hash="SHA256", salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)))
    okm = hkdf(b"\x0b" * 22, 42, config)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def test_feature_keys_are_consecutive_slices_of_one_hkdf_output() -> None:
    config = KdfConfig(hash="SHA512", salt=b"salt", info=b"info", key_size=32)
    keys = derive_feature_keys(b"secret", 3, config)
    material = hkdf(b"secret", 6 * 32, config)
    assert keys == tuple((material[64 * i : 64 * i + 32], material[64 * i + 32 : 64 * i + 64]) for i in range(3))


def test_different_secret_or_salt_gives_different_keys() -> None:
    base = derive_feature_keys(b"secret", 2, KdfConfig(salt=b"a"))
    assert base != derive_feature_keys(b"secret2", 2, KdfConfig(salt=b"a"))
    assert base != derive_feature_keys(b"secret", 2, KdfConfig(salt=b"b"))


def test_str_secret_is_rejected_with_a_hint() -> None:
    with pytest.raises(TypeError, match="encode\\('utf-8'\\)"):
        derive_feature_keys("secret", 2, KdfConfig())  # type: ignore[arg-type]


def test_too_many_keys_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at most 8160 bytes"):
        derive_feature_keys(b"s", 64, KdfConfig(key_size=64))


def test_unknown_hash_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported HKDF hash 'MD5'"):
        hkdf(b"s", 16, KdfConfig(hash="MD5"))
