"""Bitbucket Cloud REST 2.0: /users/{selected_user}/ssh-keys.

Auth: an Atlassian API token with Basic auth and the account's email as the user name
(app passwords are being retired). The account's uuid comes from /user first.
"""

from __future__ import annotations

import base64 as b64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from onboarding.api import base
from onboarding.api.base import RemoteKey, Session, TokenError

SCOPES = {"list your keys": "read:ssh-key:bitbucket", "add the key": "write:ssh-key:bitbucket",
          "delete a key": "delete:ssh-key:bitbucket", "read your account": "read:user:bitbucket"}


class Bitbucket:
    kind = "bitbucket"

    def __init__(self, provider: str, url: str, token: str, *, email: str, timeout: float) -> None:
        basic = b64.b64encode(f"{email}:{token}".encode()).decode()
        self.s = Session(provider, url, {"Authorization": f"Basic {basic}"}, timeout=timeout)
        self._user: str | None = None

    def _keys_path(self) -> str:
        if self._user is None:
            status, body, headers = self.s.call("GET", "/user")
            self._check(status, body, headers, "read your account")
            uuid = body.get("uuid") if isinstance(body, dict) else None
            if not isinstance(uuid, str) or not uuid:
                raise self.s.malformed("an account with a uuid")
            self._user = quote(uuid, safe="")
        return f"/users/{self._user}/ssh-keys"

    def list_keys(self) -> list[RemoteKey]:
        entries = self.s.pages(self._keys_path() + "?pagelen=100", self._page, self._check)
        return [base.remote_key(self.s, e, id_field="uuid", title_field="label", created_field="created_on")
                for e in entries]

    def _page(self, body: Any) -> tuple[list[Any], str | None]:
        if not isinstance(body, dict) or not isinstance(body.get("values"), list):
            raise self.s.malformed("a page of keys ({\"values\": [...]})")
        nxt = body.get("next")
        return body["values"], nxt if isinstance(nxt, str) and nxt else None

    def add_key(self, public_line: str, title: str) -> RemoteKey:
        status, body, headers = self.s.call("POST", self._keys_path(), {"label": title, "key": public_line.strip()})
        if status == 400 and "already" in json.dumps(body).lower():
            raise base.in_use_elsewhere(self.s.provider)
        self._check(status, body, headers, "add the key")
        return base.remote_key(self.s, body, id_field="uuid", title_field="label", created_field="created_on")

    def delete_key(self, key: RemoteKey) -> None:
        base.delete(self.s, f"{self._keys_path()}/{quote(key.id, safe='')}", self._check)

    def _check(self, status: int, body: Any, headers: Mapping[str, str], doing: str) -> None:
        if status in (200, 201, 204):
            return
        name = self.s.provider
        scope = SCOPES.get(doing, "")
        if status == 401:
            raise TokenError(f"{name} rejected the API token and email (401): wrong, expired or revoked",
                             hint=f"create an Atlassian API token with scopes for Bitbucket ({scope} for this) "
                                  "and give the account's email (BITBUCKET_EMAIL or --bitbucket-email)")
        if status == 403:
            raise TokenError(f"{name} did not let the token {doing} (403)", hint=f"it needs the {scope} scope")
        raise base.unexpected(name, status, doing)
