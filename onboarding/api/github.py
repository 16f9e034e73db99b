"""GitHub REST: /user/keys (docs.github.com "REST API endpoints for Git SSH keys")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onboarding.api import base
from onboarding.api.base import RemoteKey, Session, TokenError

SCOPES = "admin:public_key (or write:public_key to add, read:public_key to list); fine-grained: Git SSH keys"


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
        base.delete(self.s, f"/user/keys/{int(key.id)}", self._check)

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
