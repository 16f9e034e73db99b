"""A local stand-in for GitHub's "SSH keys of the authenticated user" API (GET/POST /user/keys),
on 127.0.0.1 over plain http (the package allows http:// to loopback only)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeGitHub:
    token: str
    port: int = 0
    keys: list[dict[str, object]] = field(default_factory=list)
    on_add: list[Callable[[str], None]] = field(default_factory=list)  # called with each added public line

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {fake.token}" and self.path.startswith("/user/keys"):
                return True
            self._send(401, {"message": "Bad credentials"})
            return False

        def do_GET(self) -> None:
            if self._authorized():
                self._send(200, fake.keys)

        def do_POST(self) -> None:
            if not self._authorized():
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            entry = {"id": len(fake.keys) + 1, "key": " ".join(body["key"].split()[:2]), "title": body["title"]}
            fake.keys.append(entry)
            for callback in fake.on_add:
                callback(body["key"])
            self._send(201, entry)

    return Handler


@contextmanager
def running(token: str) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
