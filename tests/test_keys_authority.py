"""The custodian CA: creation, loading, issuing, revocation, CRL."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aidlink.keys import CertificateAuthority, CertificateAuthorityError, identity_from_pem
from aidlink.keys.authority import issued_certificates


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("custody") / "ca")


def test_create_writes_pem_cert_and_private_key_0600(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca", name="Jiangsu custodian CA")
    cert = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.crt").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Jiangsu custodian CA"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)
    assert mode(tmp_path / "ca" / "ca.key") == 0o600
    assert b"ENCRYPTED" not in (tmp_path / "ca" / "ca.key").read_bytes()
    assert CertificateAuthority.load(tmp_path / "ca").cert_pem == ca.cert_pem


def test_create_refuses_to_replace_an_existing_ca(tmp_path):
    CertificateAuthority.create(tmp_path / "ca")
    with pytest.raises(CertificateAuthorityError, match="already exists"):
        CertificateAuthority.create(tmp_path / "ca")


def test_passphrase_protected_ca_key_needs_the_right_passphrase(tmp_path):
    CertificateAuthority.create(tmp_path / "ca", passphrase=b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "ca" / "ca.key").read_bytes()
    with pytest.raises(CertificateAuthorityError, match="passphrase-protected; give its passphrase"):
        CertificateAuthority.load(tmp_path / "ca")
    with pytest.raises(CertificateAuthorityError, match="wrong passphrase"):
        CertificateAuthority.load(tmp_path / "ca", b"wrong horse")
    loaded = CertificateAuthority.load(tmp_path / "ca", b"correct horse")
    assert loaded.issue_matcher().serial > 0


def test_passphrase_given_for_an_unprotected_key_is_an_error(tmp_path):
    CertificateAuthority.create(tmp_path / "ca")
    with pytest.raises(CertificateAuthorityError, match="not passphrase-protected"):
        CertificateAuthority.load(tmp_path / "ca", b"surprise")


def test_load_of_missing_ca_names_the_file(tmp_path):
    with pytest.raises(CertificateAuthorityError, match="CA certificate not found at .*ca.crt"):
        CertificateAuthority.load(tmp_path / "nowhere")


def test_issue_node_puts_department_level_and_division_in_subject_and_san(ca):
    issued = ca.issue_node("mca", level="city", division_code="320900", hosts=("mca.yancheng.example", "10.0.0.7"))
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject[NameOID.ORGANIZATION_NAME] == "aidlink"
    assert subject[NameOID.ORGANIZATIONAL_UNIT_NAME] == "mca"
    assert subject[NameOID.COMMON_NAME] == "mca.320900.node.aidlink"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["aidlink://node/mca/city/320900"]
    assert san.get_values_for_type(x509.DNSName) == ["mca.yancheng.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    assert cert.serial_number == issued.serial
    cert.verify_directly_issued_by(ca.certificate)

    identity = identity_from_pem(issued.cert_pem)
    assert (identity.kind, identity.department, identity.level, identity.division_code) == (
        "node",
        "mca",
        "city",
        "320900",
    )
    assert identity.serial == issued.serial
    assert identity.uri == "aidlink://node/mca/city/320900"


def test_issued_key_is_unencrypted_pkcs8_matching_the_certificate(ca):
    issued = ca.issue_node("edu", level="province", division_code="320000")
    assert issued.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(issued.key_pem, None)
    assert key.public_key() == x509.load_pem_x509_certificate(issued.cert_pem).public_key()
    assert b"PRIVATE" not in repr(issued).encode()


@pytest.mark.parametrize(
    ("department", "level", "code", "message"),
    [
        ("police", "city", "320900", "unknown department 'police'; expected one of: mca, edu"),
        ("mca", "town", "320900", "unknown level 'town'; expected one of: province, city, county"),
        ("mca", "city", "32090", "division code '32090' is not 6 digits"),
        ("mca", "city", "32090a", "division code '32090a' is not 6 digits"),
        ("mca", "city", "990900", "does not start with a provincial code"),
        ("mca", "province", "320900", "'320900' is a city-level code, but level 'province' was given"),
        ("mca", "county", "320000", "'320000' is a province-level code, but level 'county' was given"),
    ],
)
def test_issue_node_rejects_bad_inputs_with_clear_errors(ca, department, level, code, message):
    with pytest.raises(CertificateAuthorityError, match=message):
        ca.issue_node(department, level=level, division_code=code)


def test_issue_node_rejects_bad_hosts_and_days(ca):
    with pytest.raises(CertificateAuthorityError, match="host 'bad host!' is neither an IP address nor"):
        ca.issue_node("mca", level="county", division_code="320902", hosts=("bad host!",))
    with pytest.raises(CertificateAuthorityError, match="not the string"):
        ca.issue_node("mca", level="county", division_code="320902", hosts="localhost")
    with pytest.raises(CertificateAuthorityError, match="validity_days must be a whole number of days >= 1, got 0"):
        ca.issue_node("mca", level="county", division_code="320902", validity_days=0)
    with pytest.raises(CertificateAuthorityError, match="after the CA itself expires"):
        ca.issue_node("mca", level="county", division_code="320902", validity_days=365 * 20)
    with pytest.raises(CertificateAuthorityError, match="has no timezone"):
        ca.issue_node("mca", level="county", division_code="320902", not_before=datetime(2025, 1, 1))


def test_issue_matcher_and_officer(ca):
    matcher = identity_from_pem(ca.issue_matcher(hosts=("matcher.aidlink.svc",)).cert_pem)
    assert (matcher.kind, matcher.common_name, matcher.uri) == ("matcher", "matcher.aidlink", "aidlink://matcher")
    assert matcher.department is None

    officer_pem = ca.issue_officer("wang.li").cert_pem
    officer = identity_from_pem(officer_pem)
    assert (officer.kind, officer.officer_name, officer.uri) == ("officer", "wang.li", "aidlink://officer/wang.li")
    eku = x509.load_pem_x509_certificate(officer_pem).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(CertificateAuthorityError, match="officer name 'Wang Li' must be"):
        ca.issue_officer("Wang Li")


def test_write_creates_cert_and_0600_key_and_refuses_overwrite(ca, tmp_path):
    issued = ca.issue_node("health", level="county", division_code="320902")
    cert_path, key_path = issued.write(tmp_path / "out", "health-320902")
    assert cert_path.read_bytes() == issued.cert_pem
    assert key_path.read_bytes() == issued.key_pem
    assert mode(key_path) == 0o600
    with pytest.raises(Exception, match="already exists; refusing to overwrite"):
        issued.write(tmp_path / "out", "health-320902")
    issued.write(tmp_path / "out", "health-320902", overwrite=True)


def test_write_with_passphrase_encrypts_the_key(ca, tmp_path):
    issued = ca.issue_node("nhsa", level="city", division_code="320900")
    _, key_path = issued.write(tmp_path, "nhsa", passphrase=b"node secret")
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    assert mode(key_path) == 0o600


def test_revoke_persists_and_appears_in_signed_crl(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    keep = ca.issue_node("mca", level="city", division_code="320900")
    gone = ca.issue_node("edu", level="city", division_code="320900")
    record = ca.revoke(gone.serial, "key_compromise")
    assert record.revocation_reason == "key_compromise" and record.revoked_at is not None

    reloaded = CertificateAuthority.load(tmp_path / "ca")
    crl = x509.load_pem_x509_crl(reloaded.crl_pem(next_update_days=3))
    assert crl.is_signature_valid(ca.certificate.public_key())
    assert crl.issuer == ca.certificate.subject
    assert crl.next_update_utc - crl.last_update_utc > timedelta(days=3)
    revoked = crl.get_revoked_certificate_by_serial_number(gone.serial)
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(keep.serial) is None
    numbers = [
        x509.load_pem_x509_crl(reloaded.crl_pem()).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        for _ in range(2)
    ]
    assert numbers[1] == numbers[0] + 1

    states = {r.serial: r.revoked_at is not None for r in issued_certificates(tmp_path / "ca")}
    assert states == {keep.serial: False, gone.serial: True}


def test_revoke_rejects_unknown_serial_double_revocation_and_unknown_reason(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    issued = ca.issue_matcher()
    with pytest.raises(CertificateAuthorityError, match=r"serial 0x2a was not issued by this CA"):
        ca.revoke(42)
    with pytest.raises(CertificateAuthorityError, match="unknown revocation reason 'bored'"):
        ca.revoke(issued.serial, "bored")
    ca.revoke(issued.serial, "superseded")
    with pytest.raises(CertificateAuthorityError, match="already revoked .*superseded"):
        ca.revoke(issued.serial)


def test_issued_records_hold_no_key_material(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    ca.issue_node("cdpf", level="county", division_code="320902")
    for path in (tmp_path / "ca" / "issued").iterdir():
        assert b"PRIVATE KEY" not in path.read_bytes()


def test_not_before_controls_the_validity_window(ca):
    start = datetime(2030, 1, 1, tzinfo=UTC)
    cert = x509.load_pem_x509_certificate(
        ca.issue_node("rural", level="city", division_code="320900", not_before=start, validity_days=30).cert_pem
    )
    assert cert.not_valid_before_utc == start
    assert cert.not_valid_after_utc == start + timedelta(days=30)
