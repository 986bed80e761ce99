"""A loopback HTTP proxy that forwards every request to an HTTPS server presenting a client
certificate: the headless browser talks plain HTTP to 127.0.0.1 (a secure context for WebCrypto)
and the proxy does the mTLS handshake with the officer's (or a node's) certificate.

Used because a headless Chromium selects client certificates only through a machine-wide policy
file (/etc/chromium/policies), which a test must not write; what the browser is shown is exactly
what the console answered to that certificate.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class ClientCertProxy:
    def __init__(
        self,
        target: str,
        ca_cert: Path,
        cert: Path | None,
        key: Path | None,
        rewrite: Callable[[str, bytes], bytes] | None = None,
    ) -> None:
        """`rewrite(path, body)`, when given, changes what the browser receives: a console that lies."""
        host, _, port = target.rpartition(":")
        context = ssl.create_default_context(cafile=str(ca_cert))
        context.check_hostname = False  # the console's certificate names localhost; we connect by IP
        if cert is not None and key is not None:
            context.load_cert_chain(str(cert), str(key))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
                try:
                    connection.request("GET", self.path, headers=headers)
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, ssl.SSLError) as exc:
                    proxy.failures.append(exc)
                    body = f"TLS connection to the console failed: {exc}".encode()
                    self.send_response(502)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                finally:
                    connection.close()
                if proxy.rewrite is not None:
                    body = proxy.rewrite(self.path, body)
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.failures: list[BaseException] = []
        self.rewrite = rewrite
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ClientCertProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
