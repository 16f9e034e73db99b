"""Local fakes of the four key APIs (GitHub, GitLab, Bitbucket Cloud, Gitea/Forgejo) on 127.0.0.1.

Each answers list / add / delete as its provider documents them (shapes, status codes,
pagination by Link header or Bitbucket's `next`, its auth header), and can be told to:
misbehave as a hostile server (`mode`), fail one operation (`fail`), or keep a real sshd's
AuthorizedKeysFile equal to the keys registered on one site (`authorize`), so that logging
in with a key proves it is registered.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

GOOD, NOSCOPE, BAD = "tok_good_4f9a", "tok_noscope_77", "tok_bad_00"
EMAIL = "dev@example.com"
SITES = {"gh": "github", "gl": "gitlab", "bb": "bitbucket", "gt": "gitea"}
PREFIX = {v: k for k, v in SITES.items()}
BB_USER = "{7c9a1e2b-0000-4000-8000-00000000abcd}"
SIGNING = "github-signing"  # the store (and the `fail`/`hold` site name) of GitHub's signing keys


@dataclass
class FakeApis:
    port: int
    # one list a site, and GitHub's signing keys (/user/ssh_signing_keys) apart as "github-signing"
    keys: dict[str, list[dict[str, object]]] = field(
        default_factory=lambda: {s: [] for s in [*SITES.values(), SIGNING]})
    elsewhere: set[str] = field(default_factory=set)  # base64 of keys other accounts use
    tokens: dict[str, str] = field(default_factory=dict)  # site -> the one token it accepts (default GOOD)
    posts: int = 0
    deletes: int = 0
    mode: str = ""  # drip, huge, huge-chunked, notjson, dict, strings, nothttp, redirect, loop, offsite
    fail: dict[str, int] = field(default_factory=dict)  # "site:op" (op: list, add, delete) -> status, once
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (site, method, auth header) of each request
    sent: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (site, body) of each POST
    authorized: tuple[str, Path] | None = None  # (site, sshd's authorized_keys)
    hold: dict[str, threading.Event] = field(default_factory=dict)  # "site:op" -> answer once this is set
    arrived: threading.Event = field(default_factory=threading.Event)  # a held request came in
    frozen: bool = False  # sshd stops learning about new keys (a provider slow to propagate)
    _next_id: int = 100

    def url(self, site: str) -> str:
        """The address to give onboard for that site (--github-api, --gitlab-url, ... or api_url)."""
        return f"http://127.0.0.1:{self.port}/{PREFIX[site]}" + ("/2.0" if site == "bitbucket" else "")

    def add(self, site: str, public_line: str, title: str, *, days_old: int = 0,
            usage_type: str | None = None) -> dict[str, object]:
        """`usage_type`: GitLab's, as sent (None: GitLab's default, auth_and_signing)."""
        self._next_id += 1
        created = datetime.now(timezone.utc) - timedelta(days=days_old)
        entry: dict[str, object] = {"id": self._next_id, "key": " ".join(public_line.split()[:2]), "title": title,
                                    "created": created.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                                    "usage_type": usage_type or "auth_and_signing"}
        self.keys[site].append(entry)
        self._sync()
        return entry

    def authorize(self, site: str, authorized_keys: Path) -> None:
        self.authorized = (site, authorized_keys)
        self._sync()

    def _sync(self) -> None:
        if self.authorized and not self.frozen:
            site, path = self.authorized
            path.write_text("".join(f"{k['key']}\n" for k in self.keys[site]))

    def titles(self, site: str) -> list[str]:
        return [str(k["title"]) for k in self.keys[site]]


def _shape(site: str, k: dict[str, object]) -> dict[str, object]:
    """One key as the provider's documentation shows it."""
    if site == "bitbucket":
        return {"type": "ssh_key", "uuid": f"{{key-{k['id']}}}", "key": k["key"], "label": k["title"],
                "comment": "", "created_on": k["created"], "last_used": None}
    out = {"id": k["id"], "key": k["key"], "title": k["title"], "created_at": k["created"]}
    if site == SIGNING:
        return out
    if site == "github":
        out.update(verified=True, read_only=False)
    elif site == "gitlab":
        out.update(expires_at=None, usage_type=k["usage_type"])
    else:
        out.update(url=f"/api/v1/user/keys/{k['id']}", fingerprint="SHA256:x", read_only=False)
    return out


def make_handler(apis: FakeApis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _token(self, site: str) -> str:
            auth = self.headers.get("Authorization", "")
            if site == "gitlab":
                return self.headers.get("PRIVATE-TOKEN", "")
            if site == "gitea":
                return auth.removeprefix("token ")
            if site == "bitbucket":
                user, _, token = base64.b64decode(auth.removeprefix("Basic ") or b"").decode().partition(":")
                return token if user == EMAIL else "wrong-email"
            return auth.removeprefix("Bearer ")

        def _hostile(self) -> bool:
            mode = apis.mode
            if not mode:
                return False
            if mode == "drip":  # a status line and headers that never end, one byte a second
                try:
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 600:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.5)
                except OSError:
                    pass
                self.close_connection = True
                return True
            if mode == "huge":  # declares 3 GB, then sends nothing: a client reading the body would wait
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(3 * 1024**3))
                self.end_headers()
                self.wfile.flush()
                time.sleep(5)
                self.close_connection = True
                return True
            if mode == "huge-chunked":  # no length at all, and no end: 1 MB chunks for as long as it is read
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = b"[" + b" " * (1024 * 1024 - 1)
                try:
                    for _ in range(3 * 1024):
                        self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                except OSError:
                    pass
                self.close_connection = True
                return True
            if mode == "nothttp":
                self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
                self.close_connection = True
                return True
            if mode == "notjson":
                data = b"<html><body>Welcome</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return True
            if mode == "dict":
                self._send(200, {"keys": []})
                return True
            if mode == "strings":
                self._send(200, ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"])
                return True
            if mode == "redirect":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.2:{apis.port}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True
            if mode in ("loop", "offsite"):
                host = "127.0.0.1" if mode == "loop" else "127.0.0.2"
                self._send(200, [], {"Link": f'<http://{host}:{apis.port}{self.path}>; rel="next"'})
                return True
            return False

        def _handle(self, method: str) -> None:
            if self._hostile():
                return
            parts = urlsplit(self.path)
            prefix, _, rest = parts.path.lstrip("/").partition("/")
            site = SITES.get(prefix, "")
            apis.seen.append((site, method, self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN", "")))
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            token = self._token(site)
            if token == BAD or token == "wrong-email":
                self._send(401, {"message": "Bad credentials"})
                return
            if token == NOSCOPE:
                if site == "github":
                    self._send(404, {"message": "Not Found"}, {"X-OAuth-Scopes": "repo, read:org"})
                else:
                    self._send(403, {"message": "403 Forbidden"})
                return
            if token != apis.tokens.get(site, GOOD):
                self._send(401, {"message": "401 Unauthorized"})
                return
            path = "/" + rest
            for marker in ("/2.0", "/api/v4", "/api/v1"):
                path = path.removeprefix(marker)
            if site == "bitbucket" and path == "/user":
                self._send(200, {"type": "user", "uuid": BB_USER, "display_name": "Dev"})
                return
            base = f"/users/{quote(BB_USER, safe='')}/ssh-keys" if site == "bitbucket" else "/user/keys"
            if site == "github" and path.split("?")[0].startswith("/user/ssh_signing_keys"):
                site, base = SIGNING, "/user/ssh_signing_keys"
            if path == base and method == "GET":
                self._list(site, parse_qs(parts.query))
            elif path == base and method == "POST":
                self._post(site, body or {})
            elif path.startswith(base + "/") and method == "DELETE":
                self._delete(site, unquote(path[len(base) + 1:]))
            else:
                self._send(404, {"message": "Not Found"})

        def _injected(self, site: str, op: str) -> bool:
            gate = apis.hold.pop(f"{site}:{op}", None)
            if gate is not None:  # keep the client waiting here until the test says so
                apis.arrived.set()
                gate.wait(30)
            code = apis.fail.pop(f"{site}:{op}", None)
            if code is None:
                return False
            self._send(code, {"message": "injected failure"})
            return True

        def _list(self, site: str, query: dict[str, list[str]]) -> None:
            if self._injected(site, "list"):
                return
            size_key = {"github": "per_page", SIGNING: "per_page", "gitlab": "per_page", "gitea": "limit",
                        "bitbucket": "pagelen"}[site]
            size = min(int(query.get(size_key, ["30"])[0]), 100 if site != "gitea" else 50)
            page = int(query.get("page", ["1"])[0])
            entries = [_shape(site, k) for k in apis.keys[site]]
            chunk = entries[(page - 1) * size: page * size]
            more = page * size < len(entries)
            base = f"http://127.0.0.1:{apis.port}{urlsplit(self.path).path}?{size_key}={size}&page={page + 1}"
            if site == "bitbucket":
                self._send(200, {"pagelen": size, "page": page, "size": len(entries), "values": chunk,
                                 **({"next": base} if more else {})})
            else:
                self._send(200, chunk, {"Link": f'<{base}>; rel="next"'} if more else {})

        def _post(self, site: str, body: dict[str, str]) -> None:
            if self._injected(site, "add"):
                return
            apis.posts += 1
            apis.sent.append((site, dict(body)))
            line = body.get("key", "")
            title = body.get("label" if site == "bitbucket" else "title", "")
            if line.split()[1] in apis.elsewhere:
                if site in ("github", SIGNING):
                    self._send(422, {"message": "Validation Failed", "errors": [
                        {"resource": "PublicKey", "code": "custom", "field": "key", "message": "key is already in use"}]})
                elif site == "gitlab":
                    self._send(400, {"message": {"fingerprint_sha256": ["has already been taken"]}})
                elif site == "gitea":
                    self._send(422, {"message": "Key content has been used as non-deploy key"})
                else:
                    self._send(400, {"type": "error", "error": {"message": "Someone has already added that SSH key."}})
                return
            usage = body.get("usage_type") if site == "gitlab" else None
            self._send(201, _shape(site, apis.add(site, line, title, usage_type=usage)))

        def _delete(self, site: str, ident: str) -> None:
            if self._injected(site, "delete"):
                return
            apis.deletes += 1
            wanted = ident.strip("{}").removeprefix("key-")
            before = len(apis.keys[site])
            apis.keys[site] = [k for k in apis.keys[site] if str(k["id"]) != wanted]
            apis._sync()
            if len(apis.keys[site]) == before:
                self._send(404, {"message": "Not Found"})
            else:
                self._send(204, None)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


@contextmanager
def serve() -> Iterator[FakeApis]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(FakeApis(0)))
    fake = FakeApis(server.server_address[1])
    server.RequestHandlerClass = make_handler(fake)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
