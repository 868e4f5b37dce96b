"""A TCP proxy that a test can cut and restore: a real network outage between a component and
the chain or the database, without stopping either."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import parse_qs, urlsplit, urlunsplit


class Proxy:
    def __init__(self, target: tuple[str, int] | str):
        self.target = target  # (host, port) or a Unix socket path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.target)
            return s
        return socket.create_connection(self.target)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = self._connect()
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):  # either side closing ends the pipe; that is the point of cut()
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones (they are accepted and closed at once)."""
        self.up = False
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def postgres_target(url: str) -> tuple[tuple[str, int] | str, str]:
    """(proxy target, URL template with {port}) for a postgresql:// URL (TCP or Unix socket)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "host" in query and query["host"][0].startswith("/"):
        target = f"{query['host'][0]}/.s.PGSQL.{parts.port or 5432}"
    else:
        target = (parts.hostname or "127.0.0.1", parts.port or 5432)
    user = parts.username or "postgres"
    auth = f"{user}:{parts.password}@" if parts.password else f"{user}@"
    return target, urlunsplit(("postgresql", f"{auth}127.0.0.1:{{port}}", parts.path, "", ""))
