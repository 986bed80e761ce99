"""The console's HTTPS server: cheroot (CherryPy's WSGI server) over the stdlib ``ssl`` module.

Why cheroot: it is maintained, serves WSGI from a thread pool without a separate process
manager, takes a ready ``ssl.SSLContext`` (so CERT_REQUIRED and the custodian's CA are ours to
set), and puts the verified client certificate into the WSGI environ (``SSL_CLIENT_CERT``,
mod_ssl's name), which is what the application authenticates. uvicorn and hypercorn verify
client certificates too but do not hand them to the application in their released versions
(the ASGI TLS extension is not implemented there); waitress does not terminate TLS; werkzeug's
server is for development only.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from aidlink.console.app import ConsoleApp, ConsoleContext
from aidlink.console.officer_auth import ConsoleTls

log = logging.getLogger("aidlink.console")


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


class _LoggingServer(wsgi.Server):
    """cheroot's server with its error log (e.g. a client refused in the TLS handshake: no
    certificate, another CA) written through `logging` instead of to stderr."""

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        log.log(level, "%s", msg, exc_info=traceback)


@dataclass
class ConsoleServer:
    """The console on `listen` (port 0: any free port; `address` says which), started by `start()`."""

    context: ConsoleContext
    tls: ConsoleTls
    listen: str = "127.0.0.1:8443"
    threads: int = 8
    _server: _LoggingServer = field(init=False)
    _thread: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.app = ConsoleApp(self.context)
        adapter = BuiltinSSLAdapter(str(self.tls.cert), str(self.tls.key))
        adapter.context = self.tls.server_context()  # CERT_REQUIRED against the custodian's CA
        self._server = _LoggingServer(_split_listen(self.listen), self.app.flask, numthreads=self.threads)
        self._server.ssl_adapter = adapter

    @property
    def address(self) -> str:
        host, port = self._server.bind_addr[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    def start(self) -> ConsoleServer:
        self._server.prepare()  # binds now, so `address` names the port before the first request
        self._thread = threading.Thread(target=self._server.serve, name="aidlink-console", daemon=True)
        self._thread.start()
        log.info("console listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
