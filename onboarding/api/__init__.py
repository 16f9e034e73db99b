"""The public key on the providers' accounts, through their APIs (standard library HTTP only).

http.py sends one request (https, deadline, size cap, no redirects); base.py holds what the
clients share; github.py, gitlab.py, bitbucket.py, gitea.py speak each provider's dialect;
tokens.py reads one token per provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from onboarding.api.base import TITLE_PREFIX, RemoteKey, TokenError
from onboarding.errors import UsageError

__all__ = ["TITLE_PREFIX", "Endpoint", "KeyClient", "RemoteKey", "SigningStatus", "TokenError", "client",
           "register_signing", "upload"]

# added / already-registered: as for upload; auth-only: GitLab has the key for authentication only and
# cannot change a key's usage type; unsupported: the provider has no API for signing keys
SigningStatus = Literal["added", "already-registered", "auth-only", "unsupported"]


class KeyClient(Protocol):
    kind: str

    def list_keys(self) -> list[RemoteKey]: ...

    def add_key(self, public_line: str, title: str) -> RemoteKey: ...

    def delete_key(self, key: RemoteKey) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    provider: str  # its name in providers.toml or the team file
    kind: str  # github, gitlab, bitbucket, gitea
    url: str


def endpoint(provider: str, api: str | None, api_url: str | None,
             overrides: Mapping[str, str] | None = None) -> Endpoint:
    """Where the provider's key API is: the pinned api/api_url, a flag overriding a built-in's URL."""
    if api is None or api_url is None:
        raise UsageError(f"{provider}: no API to manage keys with",
                         hint="paste the key by hand at the address `onboard keygen` shows; "
                              "a team-file provider can name its API (api = \"gitea\", api_url = ...)")
    return Endpoint(provider, api, (overrides or {}).get(provider, api_url))


def client(ep: Endpoint, token: str, *, timeout: float, email: str | None = None) -> KeyClient:
    from onboarding.api import bitbucket, gitea, github, gitlab

    if ep.kind == "github":
        return github.GitHub(ep.provider, ep.url, token, timeout=timeout)
    if ep.kind == "gitlab":
        return gitlab.GitLab(ep.provider, ep.url, token, timeout=timeout)
    if ep.kind == "gitea":
        return gitea.Gitea(ep.provider, ep.url, token, timeout=timeout)
    if not email:
        raise UsageError(f"{ep.provider}: a Bitbucket API token needs the Atlassian account's email",
                         hint="set BITBUCKET_EMAIL or pass --bitbucket-email")
    return bitbucket.Bitbucket(ep.provider, ep.url, token, email=email, timeout=timeout)


def upload(c: KeyClient, public_line: str, title: str, *,
           signing: bool = False) -> tuple[Literal["added", "already-registered"], RemoteKey]:
    """(added | already-registered, the key's record): a key already there is not added twice.
    `signing`: GitLab adds it with usage_type auth_and_signing (one key, both uses)."""
    from onboarding.api import gitlab

    for key in c.list_keys():
        if key.same(public_line):
            return "already-registered", key
    if signing and isinstance(c, gitlab.GitLab):
        return "added", c.add_key(public_line, title, usage_type="auth_and_signing")
    return "added", c.add_key(public_line, title)


def register_signing(c: KeyClient, public_line: str, title: str, auth: tuple[str, RemoteKey]) -> SigningStatus:
    """The key as a signing key too, after upload (whose (status, key) is `auth`): GitHub's separate
    list gets it once; GitLab's answer is the usage type upload found or set."""
    from onboarding.api import github, gitlab

    if isinstance(c, github.GitHub):
        if any(k.same(public_line) for k in c.list_signing_keys()):
            return "already-registered"
        c.add_signing_key(public_line, title)
        return "added"
    if isinstance(c, gitlab.GitLab):
        status, key = auth
        if key.usage == "auth":
            return "auth-only"
        return "added" if status == "added" else "already-registered"
    return "unsupported"
