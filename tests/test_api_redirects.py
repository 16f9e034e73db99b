"""A provider API's 3xx is never followed: the token would go with it (onboarding/api/http.py).

The redirect names a second listener on this machine; that listener must receive nothing (no
connection at all), whatever the 3xx (issue 22: the decision could be removed with the suite
staying green, because no test had a second listener to notice a followed redirect).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers.run import onboard

TOKEN = "ghp_mustNotFollowTheRedirect5"


@pytest.fixture
def second() -> Iterator[tuple[int, list[bytes]]]:
    """A bare listener that records every byte any connection sends it."""
    got: list[bytes] = []
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    got.append(b"<connection>" + conn.recv(65536))
                except OSError:
                    got.append(b"<connection>")

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1], got
    sock.close()


def _redirecting(status: int, target: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _redirect(self) -> None:
            self.send_response(status)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_DELETE = _redirect

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_a_second_listener_reaches_nothing(second: tuple[int, list[bytes]], home: Path,
                                                         status: int) -> None:
    port, got = second
    first = _redirecting(status, f"http://127.0.0.1:{port}")
    try:
        r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
        assert r.returncode == 0, r.output
        r = onboard("keys", "upload", "github", "--key-type", "ed25519", "--timeout", "5",
                    "--github-api", f"http://127.0.0.1:{first.server_address[1]}", env={"GH_TOKEN": TOKEN})
    finally:
        first.shutdown()
        first.server_close()
    assert r.returncode == 4, r.output
    assert "redirect" in r.stderr and TOKEN not in r.output
    assert got == [], f"the second listener received {got!r}"
