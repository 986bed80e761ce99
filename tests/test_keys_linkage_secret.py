"""The linkage secret and its sealing to one node (RFC 9180 HPKE, P-256)."""

from __future__ import annotations

import struct

import pytest

from aidlink.keys import CertificateAuthority, LinkageSecret, SealedSecretError, open_sealed, read_sealed_header, seal
from aidlink.keys.identity import certificate_fingerprint


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("custody") / "ca")


@pytest.fixture(scope="module")
def node_a(ca):
    return ca.issue_node("mca", level="city", division_code="320900")


@pytest.fixture(scope="module")
def node_b(ca):
    return ca.issue_node("edu", level="city", division_code="320900")


@pytest.fixture(scope="module")
def secret() -> LinkageSecret:
    return LinkageSecret.generate(3)


@pytest.fixture(scope="module")
def blob(secret, node_a) -> bytes:
    return seal(secret, node_a.cert_pem)


def test_generate_gives_32_random_bytes():
    one, two = LinkageSecret.generate(1), LinkageSecret.generate(1)
    assert len(one.key) == 32
    assert one != two
    assert one == LinkageSecret(1, one.key)


def test_repr_and_str_do_not_show_key_bytes(secret):
    for text in (repr(secret), str(secret), f"{secret}", repr([secret]), repr({"s": secret})):
        assert secret.key.hex() not in text
        assert repr(secret.key) not in text
        assert "version=3" in text
    assert secret.key_id in repr(secret)


def test_secret_validation():
    with pytest.raises(ValueError, match="at least 32 bytes, got 16"):
        LinkageSecret(1, b"x" * 16)
    with pytest.raises(ValueError, match="version must be an integer from 1"):
        LinkageSecret(0, b"x" * 32)


def test_node_opens_its_sealed_secret(secret, blob, node_a):
    assert open_sealed(blob, node_a.key_pem, node_a.cert_pem) == secret
    assert open_sealed(blob, node_a.key_pem) == secret
    header = read_sealed_header(blob)
    assert header.secret_version == 3
    assert header.recipient_fingerprint == certificate_fingerprint(node_a.cert_pem)


def test_sealing_is_randomised(secret, node_a, blob):
    assert seal(secret, node_a.cert_pem) != blob


def test_another_node_cannot_open_it(blob, node_b):
    with pytest.raises(
        SealedSecretError, match="failed authentication: it was altered, or it was not sealed to this key"
    ):
        open_sealed(blob, node_b.key_pem)
    with pytest.raises(SealedSecretError, match=r"is for another recipient .*not for CN=edu\.320900\.node\.aidlink"):
        open_sealed(blob, node_b.key_pem, node_b.cert_pem)


def test_matcher_cannot_open_it_and_cannot_be_sealed_to(ca, secret, blob):
    matcher = ca.issue_matcher()
    with pytest.raises(SealedSecretError, match="failed authentication"):
        open_sealed(blob, matcher.key_pem)
    with pytest.raises(
        SealedSecretError, match="refusing to seal the linkage secret to CN=matcher.aidlink.*matcher identity"
    ):
        seal(secret, matcher.cert_pem)
    with pytest.raises(SealedSecretError, match="officer identity"):
        seal(secret, ca.issue_officer("chen").cert_pem)


def test_key_that_does_not_match_the_certificate_is_named(blob, node_a, node_b):
    with pytest.raises(SealedSecretError, match=r"does not belong to CN=mca\.320900\.node\.aidlink"):
        open_sealed(blob, node_b.key_pem, node_a.cert_pem)


@pytest.mark.parametrize("with_cert", [False, True])
def test_every_single_flipped_byte_is_detected(blob, node_a, with_cert):
    cert = node_a.cert_pem if with_cert else None
    for index in range(len(blob)):
        for flip in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[index] ^= flip
            with pytest.raises(SealedSecretError):
                open_sealed(bytes(tampered), node_a.key_pem, cert)


def test_changed_secret_version_in_header_is_detected(blob, node_a):
    tampered = bytearray(blob)
    version_at = blob.index(b"linkage-secret") + len("linkage-secret") + 2  # after the u16 context length
    struct.pack_into(">I", tampered, version_at, 4)
    assert read_sealed_header(bytes(tampered)).secret_version == 4
    with pytest.raises(SealedSecretError, match="version 4: sealed linkage-secret failed authentication"):
        open_sealed(bytes(tampered), node_a.key_pem, node_a.cert_pem)


def test_truncated_blob_is_reported(blob, node_a):
    for length in (0, 3, 4, 10, 47, 100, len(blob) - 40):
        with pytest.raises(SealedSecretError, match="truncated|not an aidlink sealed envelope"):
            open_sealed(blob[:length], node_a.key_pem)
    with pytest.raises(
        SealedSecretError, match=f"envelope is truncated: 100 bytes, at least {len(blob) - 32} expected"
    ):
        open_sealed(blob[:100], node_a.key_pem)
    with pytest.raises(SealedSecretError, match="truncated"):
        open_sealed(blob[:-1], node_a.key_pem)
    with pytest.raises(SealedSecretError, match="failed authentication"):
        open_sealed(blob + b"\x00", node_a.key_pem)


def test_unknown_format_is_reported(blob, node_a):
    with pytest.raises(SealedSecretError, match="not an aidlink sealed envelope: expected magic b'ALSE', found b'PK"):
        open_sealed(b"PK\x03\x04" + blob[4:], node_a.key_pem)
    with pytest.raises(SealedSecretError, match="unsupported sealed-envelope format version 2 .this build reads 1"):
        open_sealed(blob[:4] + b"\x02" + blob[5:], node_a.key_pem)
    with pytest.raises(SealedSecretError, match="unsupported HPKE suite kem=0x0020"):
        open_sealed(blob[:5] + b"\x00\x20" + blob[7:], node_a.key_pem)


def test_wrong_key_type_is_reported(blob):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SealedSecretError, match="not an ECDSA P-256 key"):
        open_sealed(blob, pem)
    with pytest.raises(SealedSecretError, match="not a readable PEM private key"):
        open_sealed(blob, b"not a key")
