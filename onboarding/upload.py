"""Register the public key through a provider's API: what setup and the wizard call.

The clients live in onboarding/api/ (one request function with a total deadline and a size
cap, one module per API). This module keeps the names setup and the wizard use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from onboarding import api
from onboarding.api import tokens
from onboarding.api.base import TokenError

__all__ = ["SUPPORTED", "TOKEN_ENV", "TokenError", "UploadResult", "read_token", "upload"]

SUPPORTED = ("github", "gitlab", "bitbucket", "codeberg")  # built-ins with an `api` in providers.toml
TOKEN_ENV = tokens.TOKEN_ENV


UploadStatus = Literal["added", "already-registered"]


@dataclass(frozen=True)
class UploadResult:
    provider: str
    status: UploadStatus
    title: str
    signing: api.SigningStatus | None = None  # None: --signing not asked


def read_token(provider: str, token_files: Mapping[str, Path] | Path | None,
               environ: Mapping[str, str] | None = None) -> str:
    """tokens.read_token; a bare Path (the old single --token-file) counts for this provider only."""
    files = {provider: token_files} if isinstance(token_files, Path) else dict(token_files or {})
    return tokens.read_token(provider, files, os.environ if environ is None else environ)


def upload(ep: api.Endpoint, public_line: str, title: str, *, token: str, timeout: float,
           email: str | None = None) -> UploadResult:
    status, key = api.upload(api.client(ep, token, timeout=timeout, email=email), public_line, title)
    return UploadResult(ep.provider, status, key.title)
