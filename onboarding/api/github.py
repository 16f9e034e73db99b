"""GitHub REST: /user/keys (docs.github.com "REST API endpoints for Git SSH keys") and, for
signing, /user/ssh_signing_keys ("REST API endpoints for SSH signing keys"): a separate list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onboarding.api import base
from onboarding.api.base import RemoteKey, Session, TokenError

SCOPES = "admin:public_key (or write:public_key to add, read:public_key to list); fine-grained: Git SSH keys"
SIGNING_SCOPES = ("the classic scope write:ssh_signing_key (read:ssh_signing_key to list, admin:ssh_signing_key "
                  "to delete), or a fine-grained token's \"SSH signing keys\" permission (write)")
SIGNING_PATH = "/user/ssh_signing_keys"


class GitHub:
    kind = "github"

    def __init__(self, provider: str, url: str, token: str, *, timeout: float) -> None:
        self.s = Session(provider, url, {"Authorization": f"Bearer {token}",
                                         "X-GitHub-Api-Version": "2022-11-28"}, timeout=timeout)

    def list_keys(self) -> list[RemoteKey]:
        entries = self.s.pages("/user/keys?per_page=100", lambda b: (base.as_list(self.s, b), None), self._check)
        return [base.remote_key(self.s, e, id_field="id", title_field="title", created_field="created_at")
                for e in entries]

    def add_key(self, public_line: str, title: str) -> RemoteKey:
        status, body, headers = self.s.call("POST", "/user/keys", {"title": title, "key": public_line.strip()})
        if status == 422:
            # 422 means "already on this account" or "in use elsewhere"; the caller's list ruled out the first.
            raise base.in_use_elsewhere(self.s.provider)
        self._check(status, body, headers, "add the key")
        return base.remote_key(self.s, body, id_field="id", title_field="title", created_field="created_at")

    def delete_key(self, key: RemoteKey) -> None:
        path = SIGNING_PATH if key.usage == "signing" else "/user/keys"
        base.delete(self.s, f"{path}/{int(key.id)}", self._check_signing if key.usage == "signing" else self._check)

    def list_signing_keys(self) -> list[RemoteKey]:
        entries = self.s.pages(SIGNING_PATH + "?per_page=100", lambda b: (base.as_list(self.s, b), None),
                               self._check_signing)
        return [base.remote_key(self.s, e, id_field="id", title_field="title", created_field="created_at",
                                usage="signing") for e in entries]

    def add_signing_key(self, public_line: str, title: str) -> RemoteKey:
        status, body, headers = self.s.call("POST", SIGNING_PATH, {"title": title, "key": public_line.strip()})
        if status == 422:  # the caller's list ruled out this account: another one signs with it
            raise base.in_use_elsewhere(self.s.provider)
        self._check_signing(status, body, headers, "add the signing key")
        return base.remote_key(self.s, body, id_field="id", title_field="title", created_field="created_at",
                               usage="signing")

    def _check_signing(self, status: int, body: Any, headers: Mapping[str, str], doing: str) -> None:
        """As _check, but a missing permission names the signing-key scope, not the key one."""
        if status in (403, 404):
            scopes = headers.get("x-oauth-scopes", "") or "none"
            doing = doing.replace("your keys", "your signing keys")
            raise TokenError(f"{self.s.provider} did not let the token {doing} ({status}); its scopes: {scopes}",
                             hint=f"signing keys need their own permission: {SIGNING_SCOPES}")
        self._check(status, body, headers, doing)

    def _check(self, status: int, body: Any, headers: Mapping[str, str], doing: str) -> None:
        if status in (200, 201, 204):
            return
        name = self.s.provider
        if status == 401:
            raise TokenError(f"{name} rejected the token (401): wrong or expired",
                             hint=f"create a new one; it needs the {SCOPES} scope")
        if status in (403, 404):
            scopes = headers.get("x-oauth-scopes", "") or "none"
            raise TokenError(f"{name} did not let the token {doing} ({status}); its scopes: {scopes}",
                             hint=f"it needs the {SCOPES} scope")
        raise base.unexpected(name, status, doing)
