"""Register the public key with GitHub or GitLab through their APIs (standard library HTTP only).

The token comes from the environment or a file, goes only into the Authorization header
of requests to the configured API host, and never into output, errors or --json.
Redirects are refused (an API has no reason to send the token elsewhere), TLS is
verified, every request has a timeout. Plain http:// is allowed for loopback only (tests).
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from onboarding.errors import ConflictError, NetworkError, OnboardError, UsageError

TOKEN_ENV = {"github": ("GH_TOKEN", "GITHUB_TOKEN"), "gitlab": ("GITLAB_TOKEN",)}
SUPPORTED = tuple(TOKEN_ENV)


class TokenError(OnboardError):
    """The token is wrong, expired or lacks a scope: bad input, exit 2."""

    exit_code = UsageError.exit_code


@dataclass(frozen=True)
class UploadResult:
    provider: str
    status: str  # added, already-registered
    title: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        raise NetworkError("the API answered with a redirect; refusing to follow it with the token",
                           hint="check --github-api / --gitlab-url (use the API's final address)")


def read_token(provider: str, token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.expanduser().read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read --token-file {token_file}: {exc.strerror}") from None
    else:
        token = next((os.environ[v] for v in TOKEN_ENV[provider] if os.environ.get(v)), "").strip()
    if not token:
        names = " or ".join(TOKEN_ENV[provider])
        raise UsageError(f"no token for {provider}", hint=f"set {names}, or pass --token-file FILE")
    return token


def check_base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname:
        try:  # an address literal only: no DNS lookup decides whether a token goes out in clear
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url.rstrip("/")
    raise UsageError(f"{url}: the API address must be https:// (a token never travels in clear text)")


class Api:
    def __init__(self, base: str, token: str, *, auth: tuple[str, str], timeout: float) -> None:
        self.base = check_base(base)
        self._headers = {"Accept": "application/json", "User-Agent": "onboard", auth[0]: auth[1].format(token)}
        self._opener = urllib.request.build_opener(_NoRedirect())
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        # check_base() allowed only https:// (or http:// to loopback): no file: or custom schemes here.
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                return resp.status, _json(resp.read()), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read()), dict(exc.headers)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NetworkError(f"{urlsplit(self.base).hostname}: {reason or type(exc).__name__}",
                               hint="check the network, or --timeout for a slow server") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, ValueError):
        return None


def _same_key(a: str, b: str) -> bool:
    return a.split()[:2] == b.split()[:2]


def github(api: Api, public_line: str, title: str) -> str:
    status, body, headers = api.call("GET", "/user/keys?per_page=100")
    _github_errors(status, headers, "list your keys")
    if any(_same_key(k.get("key", ""), public_line) for k in body or []):
        return "already-registered"
    status, body, headers = api.call("POST", "/user/keys", {"title": title, "key": public_line.strip()})
    if status == 422:
        # GitHub answers 422 both for "already on this account" and "in use elsewhere"; the
        # list above rules out the first.
        raise ConflictError(
            "GitHub refused the key: it is already in use by another GitHub account (or as a deploy key)",
            hint="remove it there, or create a new key with `onboard keygen --force`",
        )
    _github_errors(status, headers, "add the key")
    return "added"


def _github_errors(status: int, headers: dict[str, str], doing: str) -> None:
    if status in (200, 201):
        return
    if status == 401:
        raise TokenError("GitHub rejected the token (401): wrong or expired",
                         hint="create a new one; it needs the write:public_key (or admin:public_key) scope")
    if status in (403, 404):
        scopes = headers.get("X-OAuth-Scopes", headers.get("x-oauth-scopes", "")) or "none"
        raise TokenError(f"GitHub did not let the token {doing} ({status}); its scopes: {scopes}",
                         hint="it needs the write:public_key (or admin:public_key) scope")
    raise OnboardError(f"GitHub answered {status} when asked to {doing}")


def gitlab(api: Api, public_line: str, title: str) -> str:
    status, body, _ = api.call("GET", "/api/v4/user/keys?per_page=100")
    _gitlab_errors(status, "list your keys")
    if any(_same_key(k.get("key", ""), public_line) for k in body or []):
        return "already-registered"
    status, body, _ = api.call("POST", "/api/v4/user/keys", {"title": title, "key": public_line.strip()})
    if status == 400 and "taken" in json.dumps(body):
        raise ConflictError("GitLab refused the key: it is already in use by another GitLab account",
                            hint="remove it there, or create a new key with `onboard keygen --force`")
    _gitlab_errors(status, "add the key")
    return "added"


def _gitlab_errors(status: int, doing: str) -> None:
    if status in (200, 201):
        return
    if status == 401:
        raise TokenError("GitLab rejected the token (401): wrong, expired or revoked",
                         hint="create a personal access token with the `api` scope")
    if status == 403:
        raise TokenError(f"GitLab did not let the token {doing} (403)", hint="it needs the `api` scope")
    raise OnboardError(f"GitLab answered {status} when asked to {doing}")


def upload(provider: str, public_line: str, title: str, *, base: str, token: str, timeout: float) -> UploadResult:
    if provider == "github":
        api = Api(base, token, auth=("Authorization", "Bearer {}"), timeout=timeout)
        return UploadResult(provider, github(api, public_line, title), title)
    if provider == "gitlab":
        api = Api(base, token, auth=("PRIVATE-TOKEN", "{}"), timeout=timeout)
        return UploadResult(provider, gitlab(api, public_line, title), title)
    raise UsageError(f"{provider}: no API to add keys with",
                     hint="paste the key by hand at the address `onboard keygen` shows")
