"""GitLab REST v4: /api/v4/user/keys (docs.gitlab.com "User SSH keys API")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from onboarding.api import base
from onboarding.api.base import RemoteKey, Session, TokenError


class GitLab:
    kind = "gitlab"

    def __init__(self, provider: str, url: str, token: str, *, timeout: float) -> None:
        self.s = Session(provider, url.rstrip("/") + "/api/v4", {"PRIVATE-TOKEN": token}, timeout=timeout)

    def list_keys(self) -> list[RemoteKey]:
        entries = self.s.pages("/user/keys?per_page=100", lambda b: (base.as_list(self.s, b), None), self._check)
        return [self._key(e) for e in entries]

    def _key(self, entry: Any) -> RemoteKey:
        # usage_type (GitLab 15.7+): a GitLab without it verifies signatures with any key, as its default does
        usage = entry.get("usage_type") if isinstance(entry, dict) else None
        return base.remote_key(self.s, entry, id_field="id", title_field="title", created_field="created_at",
                               usage=usage if usage in base.USAGES else "auth_and_signing")

    def add_key(self, public_line: str, title: str, usage_type: str | None = None) -> RemoteKey:
        """usage_type None sends none: GitLab's default (auth_and_signing), as before --signing existed."""
        fields = {"title": title, "key": public_line.strip(), **({"usage_type": usage_type} if usage_type else {})}
        status, body, headers = self.s.call("POST", "/user/keys", fields)
        if status == 400 and "taken" in json.dumps(body):
            raise base.in_use_elsewhere(self.s.provider)
        self._check(status, body, headers, "add the key")
        return self._key(body)

    def delete_key(self, key: RemoteKey) -> None:
        base.delete(self.s, f"/user/keys/{int(key.id)}", self._check)

    def _check(self, status: int, body: Any, headers: Mapping[str, str], doing: str) -> None:
        if status in (200, 201, 204):
            return
        name = self.s.provider
        if status == 401:
            raise TokenError(f"{name} rejected the token (401): wrong, expired or revoked",
                             hint="create a personal access token with the `api` scope")
        if status == 403:
            raise TokenError(f"{name} did not let the token {doing} (403)", hint="it needs the `api` scope")
        raise base.unexpected(name, status, doing)
