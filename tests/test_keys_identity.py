"""Peer identities and the certificate policy the matcher applies after the TLS handshake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aidlink.keys import (
    CertificateAuthority,
    CertificatePolicy,
    CertificateRejected,
    IdentityError,
    check_certificate,
    identity_from_pem,
)

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("custody") / "ca")


@pytest.fixture(scope="module")
def node(ca):
    return ca.issue_node("hrss", level="county", division_code="320981")


def self_signed(common_name: str, san: list[x509.GeneralName] | None = None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_valid_node_certificate_passes_and_yields_its_identity(ca, node):
    identity = check_certificate(node.cert_pem, ca.cert_pem, ca.crl_pem())
    assert identity.kind == "node"
    assert (identity.department, identity.level, identity.division_code) == ("hrss", "county", "320981")
    assert identity.serial == node.serial
    assert identity.common_name == "hrss.320981.node.aidlink"
    assert identity.not_after == x509.load_pem_x509_certificate(node.cert_pem).not_valid_after_utc


def test_der_certificate_is_accepted_as_well_as_pem(ca, node):
    der = x509.load_pem_x509_certificate(node.cert_pem).public_bytes(serialization.Encoding.DER)
    assert identity_from_pem(der) == identity_from_pem(node.cert_pem)
    assert check_certificate(der, ca.cert_pem).serial == node.serial


def test_expired_certificate_is_rejected_naming_it_and_the_expiry(ca):
    old = ca.issue_node(
        "mca", level="city", division_code="320900", not_before=NOW - timedelta(days=40), validity_days=30
    )
    expiry = (NOW - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    with pytest.raises(CertificateRejected) as caught:
        check_certificate(old.cert_pem, ca.cert_pem)
    message = str(caught.value)
    assert "CN=mca.320900.node.aidlink" in message
    assert f"serial {old.serial:#x}" in message
    assert f"expired at {expiry}" in message
    assert caught.value.serial == old.serial


def test_not_yet_valid_certificate_is_rejected(ca):
    future = ca.issue_node("mca", level="city", division_code="320900", not_before=NOW + timedelta(days=2))
    with pytest.raises(CertificateRejected, match="not valid before"):
        check_certificate(future.cert_pem, ca.cert_pem)
    # ... and accepted once its time has come.
    assert check_certificate(future.cert_pem, ca.cert_pem, now=NOW + timedelta(days=3)).serial == future.serial


def test_revoked_certificate_is_rejected_with_time_and_reason(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    issued = ca.issue_node("union", level="city", division_code="320900")
    before = ca.crl_pem()
    assert check_certificate(issued.cert_pem, ca.cert_pem, before).serial == issued.serial
    ca.revoke(issued.serial, "key_compromise")
    with pytest.raises(CertificateRejected, match=r"CN=union\.320900\.node\.aidlink.*revoked at .*key_compromise"):
        check_certificate(issued.cert_pem, ca.cert_pem, ca.crl_pem())


def test_certificate_from_another_ca_with_the_same_name_is_rejected(ca, tmp_path):
    impostor = CertificateAuthority.create(tmp_path / "other")  # same default CA name
    assert impostor.certificate.subject == ca.certificate.subject
    forged = impostor.issue_node("hrss", level="county", division_code="320981")
    with pytest.raises(CertificateRejected, match="not issued by this CA"):
        check_certificate(forged.cert_pem, ca.cert_pem, ca.crl_pem())


def test_crl_from_another_ca_is_refused(ca, tmp_path):
    other = CertificateAuthority.create(tmp_path / "other", name="someone else")
    with pytest.raises(ValueError, match="is not signed by this CA"):
        CertificatePolicy(ca.cert_pem, other.crl_pem())


def test_stale_crl_fails_closed(ca, node):
    crl = ca.crl_pem(next_update_days=1)
    with pytest.raises(CertificateRejected, match="revocation list expired at .* load a fresh CRL"):
        check_certificate(node.cert_pem, ca.cert_pem, crl, now=NOW + timedelta(days=2))


def test_policy_can_restrict_identity_kinds(ca, node):
    policy = CertificatePolicy(ca.cert_pem, ca.crl_pem(), kinds={"node"})
    assert policy.check(node.cert_pem).kind == "node"
    with pytest.raises(CertificateRejected, match="is a matcher identity; accepted here: node"):
        policy.check(ca.issue_matcher().cert_pem)
    with pytest.raises(ValueError, match="unknown identity kinds"):
        CertificatePolicy(ca.cert_pem, kinds={"admin"})


def test_ca_certificate_itself_is_not_an_identity(ca):
    with pytest.raises(CertificateRejected, match="is a CA certificate"):
        check_certificate(ca.cert_pem, ca.cert_pem)


def test_naive_now_is_refused(ca, node):
    with pytest.raises(ValueError, match="has no timezone"):
        check_certificate(node.cert_pem, ca.cert_pem, now=datetime(2030, 1, 1))


def test_garbage_is_rejected_clearly(ca):
    with pytest.raises(CertificateRejected, match="not an X.509 certificate"):
        check_certificate(b"hello", ca.cert_pem)
    with pytest.raises(IdentityError, match="not an X.509 certificate"):
        identity_from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_certificate_without_aidlink_san_has_no_identity():
    pem = self_signed("plain.example", [x509.DNSName("plain.example")])
    with pytest.raises(IdentityError, match=r"CN=plain\.example, serial 0x7 carries no aidlink identity"):
        identity_from_pem(pem)
    with pytest.raises(IdentityError, match="carries no aidlink identity"):
        identity_from_pem(self_signed("no-san"))


@pytest.mark.parametrize(
    ("cn", "uri", "message"),
    [
        ("x", "aidlink://node/police/city/320900", "unknown department 'police'"),
        ("x", "aidlink://node/mca/city/32090", "not 6 digits"),
        ("x", "aidlink://gateway/mca", "unrecognised identity"),
        ("matcher.aidlink.evil", "aidlink://matcher", "common name does not match its identity"),
    ],
)
def test_malformed_identities_are_refused(cn, uri, message):
    with pytest.raises(IdentityError, match=message):
        identity_from_pem(self_signed(cn, [x509.UniformResourceIdentifier(uri)]))


def test_two_aidlink_identities_are_refused():
    pem = self_signed(
        "matcher.aidlink",
        [
            x509.UniformResourceIdentifier("aidlink://matcher"),
            x509.UniformResourceIdentifier("aidlink://officer/zhang"),
        ],
    )
    with pytest.raises(IdentityError, match="carries 2 aidlink identities"):
        identity_from_pem(pem)
