"""A TCP relay on loopback that records every byte a client sends to a server,
so tests can look at what actually crosses the wire."""

from __future__ import annotations

import socket
import threading


class RecordingProxy:
    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._upstream = bytearray()  # client -> server
        self._downstream = bytearray()  # server -> client
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server, self._upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self._downstream), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    record.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def sent_by_clients(self) -> bytes:
        with self._lock:
            return bytes(self._upstream)

    def sent_by_server(self) -> bytes:
        with self._lock:
            return bytes(self._downstream)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
