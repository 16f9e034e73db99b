"""What every key API client shares: the session, JSON, pagination, the key record."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from onboarding.api import http
from onboarding.errors import ConflictError, NetworkError, OnboardError, UsageError

MAX_PAGES = 50  # 50 pages of 100 keys: far more than any account has, and a loop ends
TITLE_PREFIX = "onboard:"  # marks the keys onboard registered, so list and prune can tell them apart
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


class TokenError(OnboardError):
    """The token is wrong, expired or lacks a scope: bad input, exit 2."""

    exit_code = UsageError.exit_code


@dataclass(frozen=True)
class RemoteKey:
    id: str
    key: str  # "type base64"
    title: str
    created: datetime | None
    # what the account uses the key for: "auth", "signing" or "auth_and_signing" (GitLab's usage_type
    # names; GitHub keeps authentication and signing keys in two lists, so each entry is one or the other)
    usage: str = "auth"

    def same(self, public_line: str) -> bool:
        return self.key.split()[:2] == public_line.split()[:2]

    @property
    def ours(self) -> bool:
        return self.title.startswith(TITLE_PREFIX)


class Session:
    """One provider's API: its base address, its auth header, the per-request deadline."""

    def __init__(self, provider: str, base: str, headers: Mapping[str, str], *, timeout: float) -> None:
        self.provider = provider
        self.base = http.check_base(base)
        self.timeout = timeout
        self._headers = {"Accept": "application/json", "User-Agent": "onboard", **headers}

    def call(self, method: str, path_or_url: str,
             body: Mapping[str, str] | None = None) -> tuple[int, Any, Mapping[str, str]]:
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        if not http.same_origin(url, self.base):  # a next-page link elsewhere would take the token with it
            raise NetworkError(f"{self.provider}: the API pointed to another server ({_shown(url)}); "
                               "not sending the token there")
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        resp = http.request(self.provider, method, url, headers=headers, body=data, timeout=self.timeout)
        if 300 <= resp.status < 400:
            raise NetworkError(f"{self.provider}: the API answered with a redirect ({resp.status}); "
                               "refusing to follow it with the token",
                               hint="use the API's final address")
        return resp.status, self._json(resp), resp.headers

    def _json(self, resp: http.Response) -> Any:
        if not resp.body.strip():
            return None
        try:
            return json.loads(resp.body.decode())
        except (UnicodeDecodeError, ValueError, RecursionError):
            if resp.status >= 400:
                return None  # an error page in HTML: the status says enough
            raise NetworkError(f"{self.provider}: the API answered {resp.status} with something that is not JSON",
                               hint="check the API address (it should be the API, not the web site)") from None

    def pages(self, first: str, items: Callable[[Any], tuple[list[Any], str | None]],
              check: Callable[[int, Any, Mapping[str, str], str], None]) -> list[Any]:
        """Every item of a paginated list: follows Link rel="next" (or the body's own next)."""
        out: list[Any] = []
        url: str | None = first
        seen: set[str] = set()
        while url is not None:
            if url in seen or len(seen) >= MAX_PAGES:
                raise NetworkError(f"{self.provider}: the key list does not end (more than {MAX_PAGES} pages "
                                   "or a page pointing back)")
            seen.add(url)
            status, body, headers = self.call("GET", url)
            check(status, body, headers, "list your keys")
            page, body_next = items(body)
            out += page
            url = body_next or next_link(headers)
        return out

    def malformed(self, what: str) -> NetworkError:
        return NetworkError(f"{self.provider}: the API's answer is not {what}",
                            hint="check the API address and the `api` kind of this provider")


def _shown(url: str) -> str:
    """The host part of an untrusted address, printable (at most 80 characters, no controls)."""
    host = url.split("/")[2] if url.count("/") >= 2 else url
    return "".join(c if c.isprintable() else "?" for c in host)[:80]


def next_link(headers: Mapping[str, str]) -> str | None:
    m = _LINK_NEXT.search(headers.get("link", ""))
    return m.group(1) if m else None


def as_list(session: Session, body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise session.malformed("a list of keys")
    return body


USAGES = ("auth", "signing", "auth_and_signing")


def remote_key(session: Session, entry: Any, *, id_field: str, title_field: str, created_field: str,
               usage: str = "auth") -> RemoteKey:
    """One key of the answer, checked: a provider that sends another shape is exit 4, not a crash."""
    if not isinstance(entry, dict):
        raise session.malformed("a list of keys (an entry is not an object)")
    key, ident, title = entry.get("key"), entry.get(id_field), entry.get(title_field) or ""
    if not isinstance(key, str) or len(key.split()) < 2 or not isinstance(ident, (int, str)) \
            or isinstance(ident, bool) or not isinstance(title, str):
        raise session.malformed("a list of keys (an entry lacks its key, id or title)")
    if id_field == "id" and not (str(ident).isascii() and str(ident).isdigit()):
        # GitHub, GitLab and Gitea number their keys; the id goes into the DELETE path as a number
        raise session.malformed("a list of keys (a key's id is not a number)")
    return RemoteKey(str(ident), " ".join(key.split()[:2]), title, parse_date(entry.get(created_field)), usage)


def parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def delete(session: Session, path: str, check: Any) -> None:
    """DELETE `path`; a 404 means the key is already gone, which is what was wanted."""
    status, body, headers = session.call("DELETE", path)
    if status != 404:
        check(status, body, headers, "delete a key")


def in_use_elsewhere(provider: str) -> ConflictError:
    return ConflictError(f"{provider} refused the key: it is already in use by another {provider} account "
                         "(or as a deploy key)",
                         hint="remove it there, or create a new key with `onboard keygen --force`")


def unexpected(provider: str, status: int, doing: str) -> NetworkError:
    return NetworkError(f"{provider}: the API answered {status} when asked to {doing}",
                        hint="the provider may be having trouble; try again later")
