"""The API request's deadline holds whatever the server's framing (onboarding/api/http.py, issue 22).

A server that answers at once but dribbles its body keeps each read short, so only a deadline
for the whole request ends it. With `Connection: close` (an HTTP/1.0 answer) http.client hands
the socket to the response and forgets it: the watchdog found nothing to shut down and
`keys upload` waited for the whole dribble. Each framing here dribbles for far longer than
--timeout; the bound is loose (a loaded machine), the dribble much longer than it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.run import onboard

TIMEOUT = 2.0
DRIBBLE = 40.0  # seconds the server keeps sending; before the fix the client waited this long
BOUND = TIMEOUT + 8.0

HEADS = {
    "close": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
    "keep-alive": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
}


class Dribbler:
    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(HEADS[self.framing] + (b"1\r\n[\r\n" if self.framing == "chunked" else b"["))
                end = time.monotonic() + DRIBBLE
                while time.monotonic() < end and not self.stop.is_set():
                    conn.sendall(b"1\r\n \r\n" if self.framing == "chunked" else b" ")
                    time.sleep(0.2)
            except OSError:
                pass


@pytest.fixture(params=list(HEADS))
def dribbler(request: pytest.FixtureRequest) -> Iterator[Dribbler]:
    d = Dribbler(request.param)
    yield d
    d.stop.set()
    d.sock.close()


def test_a_dribbled_answer_ends_at_the_deadline_whatever_the_framing(dribbler: Dribbler, home: Path) -> None:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    start = time.monotonic()
    r = onboard("keys", "upload", "github", "--key-type", "ed25519", "--timeout", str(TIMEOUT),
                "--github-api", f"http://127.0.0.1:{dribbler.port}", env={"GH_TOKEN": "ghp_test"}, timeout=120)
    took = time.monotonic() - start
    assert r.returncode == 4, r.output
    assert "github: no complete answer" in r.stderr, r.output
    assert took < BOUND, f"{dribbler.framing}: keys upload took {took:.1f} s with --timeout {TIMEOUT:g}"
