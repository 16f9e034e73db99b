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
        return [base.remote_key(self.s, e, id_field="id", title_field="title", created_field="created_at")
                for e in entries]

    def add_key(self, public_line: str, title: str) -> RemoteKey:
        status, body, headers = self.s.call("POST", "/user/keys", {"title": title, "key": public_line.strip()})
        if status == 400 and "taken" in json.dumps(body):
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
            raise TokenError(f"{name} rejected the token (401): wrong, expired or revoked",
                             hint="create a personal access token with the `api` scope")
        if status == 403:
            raise TokenError(f"{name} did not let the token {doing} (403)", hint="it needs the `api` scope")
        raise base.unexpected(name, status, doing)
