"""Port 22 of a loopback address other than 127.0.0.1, as a blocked or an open network shows it:
nothing listening (refused), a listener that never speaks, one that answers as an HTTP proxy,
or a plain TCP relay to the local sshd (port 22 open)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator

KINDS = ("refused", "silent", "http")


def loopback() -> str:
    """An address of 127/8 no other test picks by chance (the machine is shared)."""
    a, b, c = (secrets.randbelow(220) + 30 for _ in range(3))
    return f"127.{a}.{b}.{c}"


class Listener:
    """Port 22 of a fresh loopback address: `silent`, `http`, or `relay` (to 127.0.0.1:relay_to)."""

    def __init__(self, kind: str, relay_to: int | None = None) -> None:
        self.kind, self.relay_to = kind, relay_to
        self.addr = loopback()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((self.addr, 22))
        except PermissionError:  # a port below 1024: root (CI runs as root)
            self.sock.close()
            import pytest

            pytest.skip("binding port 22 of a loopback address needs root")
        self.sock.listen(128)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)  # kept open: the silent one must not close either
            if self.kind == "http":
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    conn.close()
            elif self.kind == "relay":
                threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        assert self.relay_to is not None
        try:
            upstream = socket.create_connection(("127.0.0.1", self.relay_to), timeout=10)
        except OSError:
            conn.close()
            return
        self.conns.append(upstream)
        threading.Thread(target=_pipe, args=(upstream, conn), daemon=True).start()
        _pipe(conn, upstream)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def port22(kind: str, relay_to: int | None = None) -> Iterator[str]:
    """The address whose port 22 behaves as `kind` ("refused": nothing listens)."""
    if kind == "refused":
        yield loopback()
        return
    listener = Listener(kind, relay_to)
    try:
        yield listener.addr
    finally:
        listener.close()
