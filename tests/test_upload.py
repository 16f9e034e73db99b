"""keys upload against a local server that answers as the GitHub and GitLab APIs document."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import Sshd, onboard

GOOD, NOSCOPE, BAD = "tok_good_4f9a", "tok_noscope_77", "tok_bad_00"


@dataclass
class FakeApis:
    port: int
    keys: dict[str, list[dict[str, object]]] = field(default_factory=lambda: {"github": [], "gitlab": []})
    elsewhere: set[str] = field(default_factory=set)  # base64 of keys other accounts use
    posts: int = 0
    on_add: list[object] = field(default_factory=list)  # callbacks(public_line)

    @property
    def github(self) -> str:
        return f"http://127.0.0.1:{self.port}/gh"

    @property
    def gitlab(self) -> str:
        return f"http://127.0.0.1:{self.port}/gl"


def make_handler(apis: FakeApis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _token(self, site: str) -> str:
            if site == "github":
                return self.headers.get("Authorization", "").removeprefix("Bearer ")
            return self.headers.get("PRIVATE-TOKEN", "")

        def _handle(self, method: str) -> None:
            if self.path.startswith("/hang"):
                time.sleep(5)
                self._send(200, [])
                return
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.2:{apis.port}/gh/user/keys")
                self.end_headers()
                return
            site = "github" if self.path.startswith("/gh/") else "gitlab"
            token = self._token(site)
            if token == BAD:
                self._send(401, {"message": "Bad credentials"})
                return
            if token == NOSCOPE:
                if site == "github":
                    self._send(404, {"message": "Not Found"}, {"X-OAuth-Scopes": "repo, read:org"})
                else:
                    self._send(403, {"message": "403 Forbidden"})
                return
            if token != GOOD:
                self._send(401, {"message": "401 Unauthorized"})
                return
            if method == "GET":
                self._send(200, apis.keys[site])
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            apis.posts += 1
            b64 = body["key"].split()[1]
            if b64 in apis.elsewhere:
                if site == "github":
                    self._send(422, {"message": "Validation Failed", "errors": [
                        {"resource": "PublicKey", "code": "custom", "field": "key", "message": "key is already in use"}]})
                else:
                    self._send(400, {"message": {"fingerprint_sha256": ["has already been taken"]}})
                return
            entry = {"id": len(apis.keys[site]) + 1, "key": " ".join(body["key"].split()[:2]), "title": body["title"]}
            apis.keys[site].append(entry)
            for callback in apis.on_add:
                callback(body["key"])  # type: ignore[operator]
            self._send(201, entry)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(FakeApis(0)))
    fake = FakeApis(server.server_address[1])
    server.RequestHandlerClass = make_handler(fake)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def key(home: Path) -> str:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    return (home / ".ssh" / "id_ed25519.pub").read_text()


def up(apis: FakeApis, *args: str, token: str = GOOD, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return onboard("keys", "upload", *args, "--key-type", "ed25519", "--github-api", apis.github,
                   "--gitlab-url", apis.gitlab, "--timeout", "2",
                   env={"GH_TOKEN": token, "GITLAB_TOKEN": token, **(env or {})})


def test_new_key_is_added_to_both_with_a_telling_title(apis: FakeApis, key: str) -> None:
    r = up(apis, "--json")
    assert r.returncode == 0, r.output
    assert [u["status"] for u in json.loads(r.stdout)["uploads"]] == ["added", "added"]
    for site in ("github", "gitlab"):
        [entry] = apis.keys[site]
        assert entry["key"] == " ".join(key.split()[:2])
        assert "@" in str(entry["title"]) and time.strftime("%Y-%m-%d") in str(entry["title"])
    assert GOOD not in r.output


def test_existing_key_is_already_registered_without_a_post(apis: FakeApis, key: str) -> None:
    apis.keys["github"].append({"id": 9, "key": " ".join(key.split()[:2]), "title": "old"})
    r = up(apis, "github")
    assert r.returncode == 0 and "already registered" in r.stderr
    assert apis.posts == 0


@pytest.mark.parametrize("site", ["github", "gitlab"])
def test_key_used_by_another_account(apis: FakeApis, key: str, site: str) -> None:
    apis.elsewhere.add(key.split()[1])
    r = up(apis, site)
    assert r.returncode == 5, r.output
    assert "another" in r.stderr and "account" in r.stderr


@pytest.mark.parametrize(("site", "token", "code", "words"), [
    ("github", BAD, 2, "rejected the token (401)"),
    ("gitlab", BAD, 2, "rejected the token (401)"),
    ("github", NOSCOPE, 2, "write:public_key"),
    ("gitlab", NOSCOPE, 2, "`api` scope"),
])
def test_token_errors_say_the_fix(apis: FakeApis, key: str, site: str, token: str, code: int, words: str) -> None:
    r = up(apis, site, token=token)
    assert r.returncode == code, r.output
    assert words in r.output and token not in r.output


def test_hanging_server_is_exit_4_within_the_timeout(apis: FakeApis, key: str) -> None:
    start = time.monotonic()
    r = onboard("keys", "upload", "github", "--key-type", "ed25519", "--github-api",
                f"http://127.0.0.1:{apis.port}/hang", "--timeout", "1", env={"GH_TOKEN": GOOD})
    assert r.returncode == 4, r.output
    assert time.monotonic() - start < 1 + 4


def test_redirect_is_not_followed_with_the_token(apis: FakeApis, key: str) -> None:
    r = onboard("keys", "upload", "github", "--key-type", "ed25519", "--github-api",
                f"http://127.0.0.1:{apis.port}/redirect", env={"GH_TOKEN": GOOD})
    assert r.returncode == 4 and "redirect" in r.stderr


def test_token_needs_https_and_comes_only_from_env_or_file(key: str, tmp_path: Path) -> None:
    r = onboard("keys", "upload", "github", "--key-type", "ed25519", "--github-api", "http://api.example.com",
                env={"GH_TOKEN": GOOD})
    assert r.returncode == 2 and "https://" in r.stderr
    r = onboard("keys", "upload", "github", "--key-type", "ed25519")
    assert r.returncode == 2 and "GH_TOKEN" in r.stderr
    r = onboard("keys", "upload", "bitbucket", "--key-type", "ed25519", env={"GH_TOKEN": GOOD})
    assert r.returncode == 2 and "paste the key by hand" in r.stderr


def test_token_file(apis: FakeApis, key: str, tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(GOOD + "\n")
    r = onboard("keys", "upload", "gitlab", "--key-type", "ed25519", "--gitlab-url", apis.gitlab,
                "--token-file", str(f))
    assert r.returncode == 0, r.output
    assert len(apis.keys["gitlab"]) == 1


@pytest.mark.sshd
def test_unattended_setup_uploads_then_clones(apis: FakeApis, sshd: Sshd, bare_repo: str, home: Path,
                                              tmp_path: Path) -> None:
    from test_clone import ProcWatcher

    apis.on_add.append(lambda line: sshd.authorized_keys.write_text(str(line)))  # the provider now knows it
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    with ProcWatcher(GOOD) as watcher:
        r = onboard("setup", "--non-interactive", "--no-passphrase", "--key-type", "ed25519", "--upload", "github",
                    "--github-api", apis.github, "--providers-file", str(pins), "--providers", "local",
                    "--repo", sshd.url(bare_repo), "--json", env={"GH_TOKEN": GOOD})
    assert r.returncode == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["uploads"] == ["added"] and summary["clones"][0]["status"] == "cloned"
    assert (home / bare_repo[:-4] / "README.md").exists()
    assert GOOD not in r.output
    assert [h for h in watcher.hits if "/cmdline" in h] == []  # the token is in no process's argv
