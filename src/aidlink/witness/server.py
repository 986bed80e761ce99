"""The witness's HTTP server (the standard library's threading HTTP server, optionally over TLS).

``POST /add-checkpoint`` is C2SP tlog-witness. ``GET /checkpoint/<origin>`` (the origin
percent-encoded, '/' allowed) answers the latest checkpoint the witness cosigned for
that log, with its cosignature: the read endpoint officers verify against (the
spec's monitor retrieval is still "TBD"; this is aidlink's).
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from aidlink.witness.protocol import MAX_BODY_BYTES, WitnessRequestError, parse_request
from aidlink.witness.service import Answer, Witness

log = logging.getLogger("aidlink.witness")
CHECKPOINT_PREFIX = "/checkpoint/"


@dataclass(frozen=True)
class WitnessTls:
    cert: Path
    key: Path


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the spec recommends
    timeout = 30  # seconds a connection may sit idle or trickle its request

    def _answer(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            self._answer(Answer.refuse(404, f"no such endpoint {self.path[:100]!r}"))
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._answer(Answer.refuse(411, "Content-Length required"))
            return
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(Answer.refuse(413, f"request body is {length} bytes, at most {MAX_BODY_BYTES}"))
            return
        body = self.rfile.read(length)
        try:
            request = parse_request(body)
        except WitnessRequestError as exc:
            self._answer(Answer.refuse(400, str(exc)))
            return
        try:
            self._answer(self.server.witness.add_checkpoint(request))
        except Exception:  # the state could not be written: nothing was cosigned
            log.exception("witness: add-checkpoint failed")
            self._answer(Answer.refuse(503, "the witness could not record the checkpoint; nothing was cosigned"))

    def do_GET(self) -> None:
        if not self.path.startswith(CHECKPOINT_PREFIX):
            self._answer(Answer.refuse(404, f"no such endpoint {self.path[:100]!r}"))
            return
        self._answer(self.server.witness.latest(unquote(self.path[len(CHECKPOINT_PREFIX) :])))

    def log_message(self, format: str, *args: object) -> None:
        log.info("witness %s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        self.tls_context: ssl.SSLContext | None = None
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake happens here, in the connection's own thread, so a slow client
        # never holds up accept().
        if self.tls_context is not None:
            request.settimeout(30)
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.info("witness: TLS handshake with %s failed: %s", client_address, exc)
                return
            try:
                super().finish_request(request, client_address)
            finally:
                request.close()
            return
        super().finish_request(request, client_address)


class WitnessServer:
    """Serve a Witness on HOST:PORT (port 0 picks a free one); `stop()` closes it."""

    def __init__(self, witness: Witness, listen: str = "127.0.0.1:0", tls: WitnessTls | None = None) -> None:
        host, _, port = listen.rpartition(":")
        self.witness = witness
        self._http = _Server((host.strip("[]") or "127.0.0.1", int(port)), witness)
        self.tls = tls
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(tls.cert, tls.key)
            self._http.tls_context = context
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def url(self) -> str:
        host = str(self._http.server_address[0])
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> WitnessServer:
        self._thread = threading.Thread(target=self._http.serve_forever, name="witness-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, which only a started server runs
            self._http.shutdown()
            self._thread.join(timeout=10)
        self._http.server_close()
        self.witness.state.close()
