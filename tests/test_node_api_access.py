"""The gateway node's API as a hostile caller on the department's network meets it: real servers,
real mTLS on loopback, real files.

By default a node serves its API only on a Unix socket in its private state directory; on TCP it
admits only its own department's system certificates (plaintext only with --insecure-dev). Every
call, admitted or refused, is in the node's own call log with who made it."""

from __future__ import annotations

import os
import stat

import grpc
import pytest

from aidlink.cli.main import main
from aidlink.demo.loopback import LoopbackDeployment
from aidlink.gateway.call_log import CALL_LOG_FILE, CallLog
from aidlink.gateway.node_channel import NodeAddressError, SystemCredentials, node_channel
from aidlink.gateway.server import GatewayConfig, GatewayServer
from aidlink.keys.authority import CertificateAuthority
from aidlink.v1 import gateway_pb2, gateway_pb2_grpc, monitoring_pb2_grpc
from aidlink.v1 import monitoring_pb2 as pb


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with LoopbackDeployment(tmp_path_factory.mktemp("nodeapi"), departments=("mca", "edu")) as d:
        yield d


def _credentials(directory, issued, ca_pem) -> SystemCredentials:
    directory.mkdir(parents=True, exist_ok=True)
    issued.write(directory, "client", overwrite=True)
    (directory / "ca.crt").write_bytes(ca_pem)
    return SystemCredentials(directory / "ca.crt", directory / "client.crt", directory / "client.key")


def _sync_inbox(channel: grpc.Channel):
    return monitoring_pb2_grpc.MonitoringGatewayStub(channel).SyncInbox(pb.SyncInboxRequest(), timeout=10)


def _calls(deployment, dept="mca"):
    log = CallLog(deployment.nodes[dept].server.config.data_dir / CALL_LOG_FILE, read_only=True)
    try:
        return log.calls()
    finally:
        log.close()


def _refused_as(deployment, credentials, code):
    mca = deployment.nodes["mca"].server
    with node_channel(mca.tcp_address, credentials) as channel:
        with pytest.raises(grpc.RpcError) as err:
            _sync_inbox(channel)
    assert err.value.code() == code, err.value.details()
    return err.value.details()


def test_plaintext_tcp_to_the_node_cannot_call_it(deployment):
    mca = deployment.nodes["mca"].server
    with grpc.insecure_channel(mca.tcp_address) as channel:
        with pytest.raises(grpc.RpcError) as err:
            gateway_pb2_grpc.GatewayStub(channel).CheckPerson(
                gateway_pb2.CheckPersonRequest(dataset="edu/students"), timeout=5
            )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # no TLS handshake, no call
    with pytest.raises(NodeAddressError, match="--insecure-dev"):
        node_channel(mca.tcp_address)  # the client library will not even try without credentials


def test_a_client_certificate_of_another_ca_cannot_connect(deployment, tmp_path):
    stranger = CertificateAuthority.create(tmp_path / "stranger-ca")
    creds = _credentials(tmp_path / "stranger", stranger.issue_system("mca", "caseworker-app"), deployment.ca.cert_pem)
    _refused_as(deployment, creds, grpc.StatusCode.UNAVAILABLE)


def test_only_the_nodes_own_departments_systems_are_admitted(deployment, tmp_path):
    ca = deployment.ca
    other_department = _credentials(tmp_path / "edu-app", ca.issue_system("edu", "caseworker-app"), ca.cert_pem)
    detail = _refused_as(deployment, other_department, grpc.StatusCode.PERMISSION_DENIED)
    assert "system of department edu; this is the node of mca" in detail

    node = deployment.nodes["mca"].directory  # the node's own certificate is not a system's
    own_node = SystemCredentials(node / "ca.crt", node / "node.crt", node / "node.key")
    detail = _refused_as(deployment, own_node, grpc.StatusCode.PERMISSION_DENIED)
    assert "is a node identity" in detail and "issue-system --department mca" in detail

    officer = _credentials(tmp_path / "officer", ca.issue_officer("wang.li"), ca.cert_pem)
    detail = _refused_as(deployment, officer, grpc.StatusCode.PERMISSION_DENIED)
    assert "aidlink://officer/wang.li is a officer identity" in detail

    admitted = _credentials(tmp_path / "mca-app", ca.issue_system("mca", "caseworker-app"), ca.cert_pem)
    with node_channel(deployment.nodes["mca"].server.tcp_address, admitted) as channel:
        assert _sync_inbox(channel).fetched == 0

    calls = _calls(deployment)
    by_status = {(c.status, c.identity.split(" serial=")[0]) for c in calls}
    assert ("PERMISSION_DENIED", "aidlink://system/edu/caseworker-app") in by_status
    assert ("PERMISSION_DENIED", "aidlink://node/mca/province/320000") in by_status
    assert ("PERMISSION_DENIED", "aidlink://officer/wang.li") in by_status
    assert ("OK", "aidlink://system/mca/caseworker-app") in by_status
    ok = next(c for c in calls if c.identity.startswith("aidlink://system/mca/caseworker-app"))
    assert ok.method == "/aidlink.v1.MonitoringGateway/SyncInbox" and ok.peer.startswith("ipv4:127.0.0.1:")
    assert ok.time[:4].isdigit()


def test_a_revoked_system_certificate_is_refused(deployment, tmp_path):
    ca = deployment.ca
    issued = ca.issue_system("mca", "retired-app")
    creds = _credentials(tmp_path / "retired", issued, ca.cert_pem)
    with node_channel(deployment.nodes["mca"].server.tcp_address, creds) as channel:
        _sync_inbox(channel)
    ca.revoke(issued.serial, "cessation_of_operation")
    deployment.refresh_crl()  # the node re-reads its crl.pem when it changes
    detail = _refused_as(deployment, creds, grpc.StatusCode.UNAUTHENTICATED)
    assert "revoked" in detail and "retired-app" in detail


def test_every_call_is_in_the_node_call_log_with_what_it_named(deployment, capsys):
    mca = deployment.nodes["mca"]
    with pytest.raises(grpc.RpcError) as err:  # through the demo system's mTLS channel; the matcher refuses
        list(
            mca.stub.CompareDataset(
                gateway_pb2.GatewayCompareRequest(
                    my_dataset="nothing-here", other_dataset="edu/students\x1b[2J", purpose=1
                ),
                timeout=10,
            )
        )
    with node_channel(mca.server.address) as channel:  # the Unix socket
        _sync_inbox(channel)
    calls = _calls(deployment)
    compare = next(c for c in calls if c.method == "/aidlink.v1.Gateway/CompareDataset")
    assert compare.identity.startswith("aidlink://system/mca/demo-app serial=0x")
    assert compare.subject["my_dataset"] == "nothing-here" and compare.subject["purpose"] == "ELIGIBILITY_CHECK"
    assert compare.status == err.value.code().name and compare.detail.startswith("matcher:")
    local = [c for c in calls if c.identity == "unix-socket"]
    assert local and local[-1].method == "/aidlink.v1.MonitoringGateway/SyncInbox" and local[-1].status == "OK"

    assert main(["gateway", "calls", "--node-dir", str(mca.directory), "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "unix-socket" in out and "CompareDataset" in out and "\x1b" not in out
    assert "edu/students\\u001b[2J" in out  # a caller's escape sequence is shown, not obeyed
    assert len(out.splitlines()) == len(calls)


def test_the_call_log_is_append_only(deployment):
    import sqlite3

    path = deployment.nodes["mca"].server.config.data_dir / CALL_LOG_FILE
    with sqlite3.connect(path) as conn:
        for statement in ("UPDATE calls SET identity='someone else'", "DELETE FROM calls"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(statement)


def test_the_command_line_reaches_the_node_by_socket_and_by_mtls_only(deployment, tmp_path, capsys):
    mca = deployment.nodes["mca"]
    assert main(["monitoring", "inbox", "--node-dir", str(mca.directory)]) == 0
    system = mca.system
    assert system is not None
    tls = ["--cert", str(system.cert), "--key", str(system.key), "--ca", str(system.ca_cert)]
    assert main(["monitoring", "inbox", "--gateway", mca.server.tcp_address, *tls]) == 0
    capsys.readouterr()
    assert main(["monitoring", "inbox", "--gateway", mca.server.tcp_address]) == 2
    assert "admits only department systems over mTLS" in capsys.readouterr().err
    assert main(["monitoring", "inbox", "--node-dir", str(tmp_path)]) == 2
    assert "no node socket at" in capsys.readouterr().err


def test_the_socket_is_private_and_tcp_needs_mtls_or_an_explicit_insecure_flag(deployment, tmp_path):
    server = deployment.nodes["edu"].server
    socket = server.config.socket
    assert stat.S_ISSOCK(os.stat(socket).st_mode)
    assert stat.S_IMODE(os.stat(socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(socket.parent).st_mode) == 0o700
    with pytest.raises(ValueError, match="needs mTLS"):
        GatewayServer(
            GatewayConfig(
                department="edu",
                data_dir=tmp_path / "state",
                matcher=deployment.matcher.address,
                secret_key=b"k" * 32,
                secret_version=1,
                listen="127.0.0.1:0",
            )
        )


def test_node_state_is_private_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        with LoopbackDeployment(tmp_path / "d", departments=("mca",), node_api="socket") as d:
            node = d.nodes["mca"]
            _sync_inbox(node.channel)
            node.server.refs.save("t0", "mca/x", 1, ["r1"], ["t0.abcdefghijklmnopabcd"])
            state = node.server.config.data_dir
            names = {p.name for p in state.iterdir()}
            assert {"references.sqlite", "inbox.sqlite", CALL_LOG_FILE, "node.sock"} <= names
            assert any(n.endswith("-wal") for n in names)
            wide = [
                f"{p.relative_to(node.directory)} {oct(stat.S_IMODE(p.stat().st_mode))}"
                for p in [node.directory, *state.rglob("*")]
                if stat.S_IMODE(p.stat().st_mode) & 0o077
            ]
            assert wide == []
            assert stat.S_IMODE(os.stat(node.directory / "node.key").st_mode) == 0o600
    finally:
        os.umask(previous)


def test_plaintext_tcp_only_with_the_explicit_flag_on_loopback_and_it_is_logged(deployment, tmp_path, caplog):
    def config(listen: str) -> GatewayConfig:
        return GatewayConfig(
            department="edu",
            data_dir=tmp_path / listen.replace(":", "_"),
            matcher=deployment.matcher.address,
            secret_key=b"k" * 32,
            secret_version=1,
            listen=listen,
            insecure_dev=True,
        )

    with pytest.raises(ValueError, match="may only listen on loopback"):
        GatewayServer(config("0.0.0.0:0"))
    server = GatewayServer(config("127.0.0.1:0")).start()
    try:
        assert "PLAINTEXT and UNAUTHENTICATED" in caplog.text
        with node_channel(server.tcp_address, insecure_dev=True) as channel:
            with pytest.raises(grpc.RpcError):  # a dev node against an mTLS matcher: the matcher refuses
                _sync_inbox(channel)
        [call] = server.call_log.calls()
        assert call.identity.startswith("insecure-dev") and call.peer.startswith("ipv4:127.0.0.1:")
    finally:
        server.stop(grace=0)


def test_a_system_certificate_does_not_open_the_matcher(deployment):
    """A department system speaks only to its own node; the matcher admits nodes and officers."""
    from aidlink.v1 import matcher_pb2, matcher_pb2_grpc

    system = deployment.nodes["mca"].system
    assert system is not None
    creds = grpc.ssl_channel_credentials(system.ca_cert.read_bytes(), system.key.read_bytes(), system.cert.read_bytes())
    with grpc.secure_channel(deployment.matcher.address, creds) as channel:
        with pytest.raises(grpc.RpcError) as err:
            matcher_pb2_grpc.MatcherStub(channel).ListDatasets(matcher_pb2.ListDatasetsRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "is a system identity" in err.value.details()


def test_keys_issue_system_writes_a_client_certificate_for_one_department(tmp_path, capsys):
    from aidlink.keys.authority import CertificateAuthorityError
    from aidlink.keys.identity import identity_from_pem

    custody = str(tmp_path / "custody")
    assert main(["keys", "init", "--custody", custody, "--unprotected"]) == 0
    out = tmp_path / "app"
    args = ["keys", "issue-system", "--custody", custody, "--department", "mca", "--name", "caseworker-app"]
    assert main([*args, "--out", str(out)]) == 0
    assert "issued aidlink://system/mca/caseworker-app" in capsys.readouterr().out
    key = out / "system-mca-caseworker-app.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ident = identity_from_pem((out / "system-mca-caseworker-app.crt").read_bytes())
    assert (ident.kind, ident.department, ident.uri) == ("system", "mca", "aidlink://system/mca/caseworker-app")
    assert main([*args[:-1], "Case Worker", "--out", str(tmp_path / "bad")]) == 1
    assert "system name 'Case Worker' must be" in capsys.readouterr().err
    with pytest.raises(CertificateAuthorityError, match="unknown department 'police'"):
        CertificateAuthority.load(tmp_path / "custody" / "ca").issue_system("police", "app")


def test_an_inbox_written_with_opened_identities_forgets_them_on_open(tmp_path):
    """An inbox.sqlite from before identities were kept sealed: the opened copies are erased from
    the file (and its WAL) when the node opens it; each referral's sealed form is what remains."""
    import json
    import sqlite3

    from aidlink.gateway.inbox import SCHEMA, ReferralInbox
    from aidlink.gateway.refs import ReferenceMap
    from aidlink.v1 import monitoring_pb2

    path = tmp_path / "state" / "inbox.sqlite"
    path.parent.mkdir()
    identity = {"name": "欧阳娜娜", "id_number": "320102199001011234"}
    item = monitoring_pb2.ReferralInboxItem(seq=1, kind="referral", referral_id=7)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        conn.execute(
            "INSERT INTO entries VALUES (1, 'referral', 7, ?, '[]', ?, 'received', '', 0)",
            (item.SerializeToString(), json.dumps(identity, ensure_ascii=False)),
        )
    refs = ReferenceMap(tmp_path / "state" / "references.sqlite")
    inbox = ReferralInbox(path, None, refs, "mca", None)  # type: ignore[arg-type]  # no matcher needed to open
    try:
        assert [e.identity for e in inbox.entries()] == [{}]
    finally:
        inbox.close()
        refs.close()
    raw = b"".join(p.read_bytes() for p in path.parent.glob("inbox.sqlite*"))
    assert "欧阳娜娜".encode() not in raw and b"320102199001011234" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_a_usable_revocation_list_the_mtls_port_refuses_every_call(deployment):
    edu = deployment.nodes["edu"]
    crl = edu.directory / "crl.pem"
    saved = crl.read_bytes()
    try:
        for broken in (None, b"-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n"):
            if broken is None:
                crl.unlink()
            else:
                crl.write_bytes(broken)
            with pytest.raises(grpc.RpcError) as err:
                _sync_inbox(edu.channel)  # edu's own demo-app system
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "revocation cannot be checked" in err.value.details() and str(crl) not in err.value.details()
    finally:
        crl.write_bytes(saved)
    _sync_inbox(edu.channel)
    refused = [c for c in _calls(deployment, "edu") if c.status == "UNAVAILABLE"]
    assert len(refused) == 2 and all("demo-app" in c.identity for c in refused)


def test_gateway_serve_under_umask_zero_keeps_its_node_private_and_serves_mtls(deployment, tmp_path):
    """The real command, started with umask 0 and a node directory left open (0777)."""
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    directory = deployment.node_dir("hrss")
    os.chmod(directory, 0o777)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    command = [sys.executable, "-m", "aidlink.cli.main", "gateway", "serve", "--department", "hrss"]
    command += ["--node-dir", str(directory), "--matcher", deployment.matcher.address, "--listen", "127.0.0.1:0"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.umask(0)
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"listening on unix:(\S+) and (127\.0\.0\.1:\d+)", line)
        assert found, line + (process.stderr.read() if process.poll() is not None else "")
        socket, address = Path(found.group(1)), found.group(2)
        assert socket == directory / "state" / "node.sock"
        creds = deployment.system_credentials("hrss")
        with node_channel(address, creds) as channel:
            assert _sync_inbox(channel).fetched == 0
        with grpc.insecure_channel(address) as channel:
            with pytest.raises(grpc.RpcError):
                _sync_inbox(channel)
        wide = [
            f"{p} {oct(stat.S_IMODE(p.stat().st_mode))}"
            for p in [directory, *(directory / "state").rglob("*")]
            if stat.S_IMODE(p.stat().st_mode) & 0o077
        ]
        assert wide == []
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert not socket.exists()  # gone with the server
