"""The witness (`aidlink witness serve`, a real process) speaks C2SP tlog-witness: it cosigns only a
checkpoint consistent with the one it cosigned before, answers each refusal with the spec's status,
and remembers what it cosigned across a restart."""

from __future__ import annotations

import http.client
import os
import stat
import subprocess
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidlink.audit.checkpoint import Checkpoint, sign_checkpoint
from aidlink.audit.merkle import MerkleTree, hash_leaf
from aidlink.audit.note import NoteVerifier
from aidlink.witness.cosignature import WitnessVerifier, verify_cosigned_checkpoint
from aidlink.witness.protocol import format_request
from tests.support.witness import aidlink, make_witness, running_witness

ORIGIN = "aidlink.audit/witness-test"


class Log:
    """A log signing checkpoints with its own key (as the matcher's audit log does)."""

    def __init__(self, key: Ed25519PrivateKey | None = None, prefix: bytes = b"entry") -> None:
        self.key = key or Ed25519PrivateKey.generate()
        self.tree = MerkleTree()
        self.prefix = prefix

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_public_key(ORIGIN, self.key.public_key())

    def grow(self, n: int) -> bytes:
        for _ in range(n):
            self.tree.append(hash_leaf(self.prefix + str(self.tree.size).encode()))
        return sign_checkpoint(Checkpoint(ORIGIN, self.tree.size, self.tree.root()), ORIGIN, self.key)


def post(url: str, body: bytes) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/add-checkpoint", body=body)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


@pytest.fixture
def witness(tmp_path):
    return make_witness(tmp_path / "witness")


@pytest.fixture
def log_and_server(witness):
    log = Log()
    with running_witness(witness, [log.verifier.vkey()]) as server:
        yield log, server


def test_cosigns_a_consistent_checkpoint_and_the_cosignature_verifies(witness, log_and_server):
    log, server = log_and_server
    first = log.grow(5)
    status, _, body = post(server.url, format_request(0, [], first))
    assert status == 200, body
    assert body.startswith("— officers.example/witness ".encode()) and body.endswith(b"\n")
    cosigned = verify_cosigned_checkpoint(first + body, log.verifier, [WitnessVerifier.parse(witness.vkey)])
    assert cosigned.checkpoint.size == 5 and len(cosigned.cosignatures) == 1

    second = log.grow(7)
    status, _, body = post(server.url, format_request(5, log.tree.consistency_proof(5, 12), second))
    assert status == 200, body
    assert verify_cosigned_checkpoint(second + body, log.verifier, [WitnessVerifier.parse(witness.vkey)])


def test_refuses_a_checkpoint_inconsistent_with_the_one_it_cosigned(log_and_server):
    log, server = log_and_server
    assert post(server.url, format_request(0, [], log.grow(4)))[0] == 200
    forked = Log(log.key, prefix=b"rewritten")  # the same signing key, another history
    rewritten = forked.grow(9)
    status, _, body = post(server.url, format_request(4, forked.tree.consistency_proof(4, 9), rewritten))
    assert status == 422 and b"does not verify" in body
    same_size = Log(log.key, prefix=b"other").grow(4)
    status, _, body = post(server.url, format_request(4, [], same_size))
    assert status == 409 and b"another root" in body


def test_a_stale_old_size_gets_409_with_the_witness_size(log_and_server):
    log, server = log_and_server
    assert post(server.url, format_request(0, [], log.grow(3)))[0] == 200
    status, content_type, body = post(server.url, format_request(0, [], log.grow(2)))
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"3\n")


def test_bad_signature_unknown_log_and_malformed_requests_are_refused(log_and_server):
    log, server = log_and_server
    impostor = Log()  # signs the same origin with a key the witness does not trust
    assert post(server.url, format_request(0, [], impostor.grow(3)))[0] == 403
    note = log.grow(3)
    other_origin = sign_checkpoint(Checkpoint("elsewhere/log", 3, log.tree.root()), "elsewhere/log", log.key)
    assert post(server.url, format_request(0, [], other_origin))[0] == 404
    assert post(server.url, format_request(4, [], note))[0] == 400  # old size above the checkpoint's
    assert post(server.url, b"old 01\n\n" + note)[0] == 400
    assert post(server.url, b"new 0\n\n" + note)[0] == 400
    assert post(server.url, format_request(0, [b"\x00" * 32], note))[0] == 400  # a proof from size 0
    assert post(server.url, format_request(0, [], note))[0] == 200  # nothing above was recorded


def test_what_it_cosigned_survives_a_restart_in_a_private_file(witness):
    log = Log()
    with running_witness(witness, [log.verifier.vkey()]) as server:
        assert post(server.url, format_request(0, [], log.grow(6)))[0] == 200
        port = urlsplit(server.url).port
    state = witness.directory / "witness.sqlite"
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(witness.directory).st_mode) == 0o700
    with running_witness(witness, [log.verifier.vkey()], listen=f"127.0.0.1:{port}") as server:
        stale = log.grow(1)
        assert post(server.url, format_request(0, [], stale)) == (409, "text/x.tlog.size", b"6\n")
        status, _, _ = post(server.url, format_request(6, log.tree.consistency_proof(6, 7), stale))
        assert status == 200


def test_the_witness_key_is_encrypted_at_rest(witness, tmp_path):
    pem = (witness.directory / "witness.key").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert stat.S_IMODE(os.stat(witness.directory / "witness.key").st_mode) == 0o600
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"not the passphrase")
    result = aidlink(
        "witness", "serve", "--dir", str(witness.directory), "--passphrase-file", str(wrong),
        "--log-key", Log().verifier.vkey(), check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "wrong passphrase" in result.stderr and "Traceback" not in result.stderr
    result = aidlink("witness", "keygen", "--dir", str(tmp_path / "plain"), "--name", "w2", "--unprotected")
    assert "UNENCRYPTED" in result.stderr
    result = aidlink(
        "witness", "keygen", "--dir", str(tmp_path / "none"), "--name", "w3", check=False, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 2 and "--passphrase-file" in result.stderr


def _self_signed(directory, host: str = "127.0.0.1"):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "witness test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "witness.crt", directory / "witness-tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_over_tls_the_log_checks_the_witness_certificate(tmp_path):
    from aidlink.witness.client import WitnessClient, WitnessEndpoint, WitnessUnreachable
    from aidlink.witness.key import WitnessKey
    from aidlink.witness.server import WitnessServer, WitnessTls
    from aidlink.witness.service import Witness
    from aidlink.witness.state import WitnessState

    cert, key = _self_signed(tmp_path)
    witness_key = WitnessKey.create(tmp_path / "w", "officers.example/witness", None)
    log = Log()
    server = WitnessServer(
        Witness(witness_key, [log.verifier], WitnessState(tmp_path / "w" / "witness.sqlite")),
        tls=WitnessTls(cert, key),
    ).start()
    try:
        assert server.url.startswith("https://")
        note = log.grow(3)
        untrusted = WitnessClient(WitnessEndpoint(server.url, witness_key.verifier()))
        with pytest.raises(WitnessUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.add_checkpoint(0, [], note)
        trusted = WitnessClient(WitnessEndpoint(server.url, witness_key.verifier(), ca_file=cert))
        cosigned = trusted.add_checkpoint(0, [], note)
        assert verify_cosigned_checkpoint(cosigned, log.verifier, [witness_key.verifier()]).checkpoint.size == 3
    finally:
        server.stop()


def test_state_files_are_private_whatever_the_umask(tmp_path):
    from aidlink.witness.state import Latest, WitnessState

    previous = os.umask(0)
    try:
        state = WitnessState(tmp_path / "open" / "witness.sqlite")
        state.advance(ORIGIN, lambda _: Latest(ORIGIN, 1, b"r" * 32, b"note", 1))
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "open").iterdir()}
        state.close()
    finally:
        os.umask(previous)
    assert modes == {"witness.sqlite": 0o600, "witness.sqlite-wal": 0o600, "witness.sqlite-shm": 0o600}
    assert stat.S_IMODE((tmp_path / "open").stat().st_mode) == 0o700
