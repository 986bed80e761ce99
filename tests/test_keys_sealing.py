"""The one "seal to a certificate" recipe (RFC 9180 HPKE, P-256), tried as a hostile holder of a blob would."""

from __future__ import annotations

import pytest

from aidlink.keys import CertificateAuthority
from aidlink.keys.identity import certificate_fingerprint
from aidlink.keys.sealing import MAGIC, SealError, SealPurpose, open_sealed, read_envelope, seal

LINKAGE, REFERRAL, BUNDLE = SealPurpose.LINKAGE_SECRET, SealPurpose.REFERRAL_IDENTITY, SealPurpose.OFFLINE_BUNDLE
PLAINTEXT = b"the plaintext: \x00\x01\xff and some more bytes"


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("custody") / "ca")


@pytest.fixture(scope="module")
def node(ca):
    return ca.issue_node("mca", level="city", division_code="320900")


@pytest.fixture(scope="module")
def other_node(ca):
    return ca.issue_node("edu", level="city", division_code="320900")


@pytest.fixture(scope="module")
def blob(node) -> bytes:
    return seal(PLAINTEXT, node.cert_pem, purpose=BUNDLE, context=b"bundle-42")


def test_round_trip_with_and_without_the_certificate(blob, node):
    assert open_sealed(blob, node.key_pem, node.cert_pem, purpose=BUNDLE, context=b"bundle-42") == PLAINTEXT
    assert open_sealed(blob, node.key_pem, purpose=BUNDLE, context=b"bundle-42") == PLAINTEXT
    assert open_sealed(blob, node.key_pem, purpose=BUNDLE, context=None) == PLAINTEXT
    envelope = read_envelope(blob)
    assert blob.startswith(MAGIC)
    assert (envelope.purpose, envelope.context) == (BUNDLE, b"bundle-42")
    assert envelope.recipient_fingerprint == certificate_fingerprint(node.cert_pem)
    assert PLAINTEXT not in blob


def test_empty_plaintext_and_context_round_trip(node):
    sealed = seal(b"", node.cert_pem, purpose=LINKAGE)
    assert open_sealed(sealed, node.key_pem, node.cert_pem, purpose=LINKAGE, context=b"") == b""


def test_sealing_is_randomised(blob, node):
    assert seal(PLAINTEXT, node.cert_pem, purpose=BUNDLE, context=b"bundle-42") != blob


def test_another_key_cannot_open_it(blob, node, other_node, ca):
    with pytest.raises(SealError, match="failed authentication: it was altered, or it was not sealed to this key"):
        open_sealed(blob, other_node.key_pem, purpose=BUNDLE, context=b"bundle-42")
    with pytest.raises(SealError, match=r"is for another recipient .*not for CN=edu\.320900\.node\.aidlink"):
        open_sealed(blob, other_node.key_pem, other_node.cert_pem, purpose=BUNDLE, context=b"bundle-42")
    with pytest.raises(SealError, match=r"does not belong to CN=mca\.320900\.node\.aidlink"):
        open_sealed(blob, other_node.key_pem, node.cert_pem, purpose=BUNDLE, context=b"bundle-42")
    matcher = ca.issue_matcher()
    with pytest.raises(SealError, match="failed authentication"):
        open_sealed(blob, matcher.key_pem, purpose=BUNDLE, context=b"bundle-42")


@pytest.mark.parametrize(
    "sealed_as, opened_as",
    [(BUNDLE, LINKAGE), (BUNDLE, REFERRAL), (LINKAGE, REFERRAL), (REFERRAL, LINKAGE), (LINKAGE, BUNDLE)],
)
def test_sealed_for_one_purpose_refuses_to_open_as_another(node, sealed_as, opened_as):
    sealed = seal(PLAINTEXT, node.cert_pem, purpose=sealed_as, context=b"ctx")
    with pytest.raises(SealError, match=f"sealed as .*{sealed_as.label}.*refusing to open it as .*{opened_as.label}"):
        open_sealed(sealed, node.key_pem, node.cert_pem, purpose=opened_as, context=b"ctx")


def test_relabelling_the_purpose_in_the_header_fails_authentication(node):
    # "linkage-secret" and "offline-bundle" have the same length: a hostile relay rewrites one into the other.
    sealed = seal(PLAINTEXT, node.cert_pem, purpose=LINKAGE, context=b"ctx")
    relabelled = sealed.replace(b"linkage-secret", b"offline-bundle", 1)
    assert read_envelope(relabelled).purpose is BUNDLE
    with pytest.raises(SealError, match="sealed offline-bundle failed authentication"):
        open_sealed(relabelled, node.key_pem, node.cert_pem, purpose=BUNDLE, context=b"ctx")


def test_sealed_for_one_context_refuses_another(node, blob):
    with pytest.raises(SealError, match=f"sealed for context {b'bundle-42'.hex()}, not {b'bundle-43'.hex()}"):
        open_sealed(blob, node.key_pem, node.cert_pem, purpose=BUNDLE, context=b"bundle-43")
    rewritten = blob.replace(b"bundle-42", b"bundle-43", 1)  # and rewriting the header does not help
    with pytest.raises(SealError, match="failed authentication"):
        open_sealed(rewritten, node.key_pem, node.cert_pem, purpose=BUNDLE, context=b"bundle-43")


@pytest.mark.parametrize("with_cert", [False, True])
def test_every_single_flipped_byte_is_detected(blob, node, with_cert):
    cert = node.cert_pem if with_cert else None
    for index in range(len(blob)):
        for flip in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[index] ^= flip
            with pytest.raises(SealError):
                open_sealed(bytes(tampered), node.key_pem, cert, purpose=BUNDLE, context=None)


def test_truncated_or_extended_blobs_fail(blob, node):
    for length in range(len(blob)):
        with pytest.raises(SealError):
            open_sealed(blob[:length], node.key_pem, purpose=BUNDLE, context=None)
    with pytest.raises(SealError, match="failed authentication"):
        open_sealed(blob + b"\x00", node.key_pem, purpose=BUNDLE, context=None)


def test_unknown_format_suite_and_purpose_are_named(blob, node):
    with pytest.raises(SealError, match="unsupported sealed-envelope format version 2"):
        read_envelope(blob[:4] + b"\x02" + blob[5:])
    with pytest.raises(SealError, match="unsupported HPKE suite kem=0x0020"):
        read_envelope(blob[:5] + b"\x00\x20" + blob[7:])
    with pytest.raises(SealError, match="unknown purpose 'offline-bundlf'"):
        read_envelope(blob.replace(b"offline-bundle", b"offline-bundlf", 1))


def test_purposes_are_sealed_only_to_the_kinds_they_allow(ca, node):
    matcher, officer = ca.issue_matcher(), ca.issue_officer("chen")
    with pytest.raises(SealError, match="refusing to seal the linkage secret to CN=matcher.aidlink.*matcher identity"):
        seal(b"k" * 32, matcher.cert_pem, purpose=LINKAGE)
    with pytest.raises(SealError, match="refusing to seal a referral identity to .*officer identity"):
        seal(b"{}", officer.cert_pem, purpose=REFERRAL)
    sealed = seal(PLAINTEXT, matcher.cert_pem, purpose=BUNDLE)  # bundles go to the matcher too
    assert open_sealed(sealed, matcher.key_pem, matcher.cert_pem, purpose=BUNDLE, context=b"") == PLAINTEXT


def test_callers_cannot_pass_a_purpose_the_recipe_does_not_know(node, blob):
    with pytest.raises(TypeError, match="purpose must be a SealPurpose"):
        seal(PLAINTEXT, node.cert_pem, purpose="offline-bundle")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="purpose must be a SealPurpose"):
        open_sealed(blob, node.key_pem, purpose="offline-bundle", context=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        open_sealed(blob, node.key_pem, purpose=BUNDLE)  # the expected context must be stated  # type: ignore[call-arg]


def test_the_three_users_refuse_each_others_blobs(ca, node):
    from aidlink.gateway.referrals import DisclosureError, open_identity, seal_identity
    from aidlink.keys.linkage_secret import LinkageSecret, SealedSecretError
    from aidlink.keys.linkage_secret import open_sealed as open_secret
    from aidlink.keys.linkage_secret import seal as seal_secret

    secret_blob = seal_secret(LinkageSecret.generate(7), node.cert_pem)
    identity_blob = seal_identity({"name": "Li Lei"}, 7, "mca", node.cert_pem, ca.cert_pem)
    assert open_identity(identity_blob, 7, node.key_pem, node.cert_pem) == {"name": "Li Lei"}
    with pytest.raises(
        DisclosureError,
        match=r"sealed as the linkage secret \(linkage-secret\); refusing to open "
        r"it as a referral identity",
    ):
        open_identity(secret_blob, 7, node.key_pem, node.cert_pem)
    with pytest.raises(SealedSecretError, match=r"not a sealed linkage secret: .*referral-identity"):
        open_secret(identity_blob, node.key_pem, node.cert_pem)
    with pytest.raises(SealError, match="refusing to open it as an offline bundle"):
        open_sealed(identity_blob, node.key_pem, node.cert_pem, purpose=BUNDLE, context=None)
