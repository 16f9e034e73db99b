"""The upload stage: register the public key through the providers' APIs, tokens from Secrets."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

from onboarding import upload as up
from onboarding.errors import UsageError
from onboarding.instance import detect_compute_instance
from onboarding.pipeline.context import Run
from onboarding.settings import read_input


def title(r: Run) -> str:
    """Tells keys apart in the provider's list: user@host (instance) date."""
    ci = detect_compute_instance(r.target.home)
    where = f" ({ci.name})" if ci else ""
    return f"{r.target.name}@{socket.gethostname()}{where} {time.strftime('%Y-%m-%d')}"


def token(r: Run, provider: str) -> str:
    """The provider's token: --token-file, else its variables (GH_TOKEN, ...), held by Secrets."""
    names = up.TOKEN_ENV[provider]
    if provider in r.secrets.tokens:
        value = r.secrets.tokens[provider]
    elif r.settings.token_file is not None:
        raw = read_input(r.settings.token_file.expanduser(), r.settings.inputs, "--token-file")
        value = raw.decode(errors="replace").strip()
    else:
        value = r.secrets.token_from(names) or ""
    if not value:
        raise UsageError(f"no token for {provider}", hint=f"set {' or '.join(names)}, or pass --token-file FILE")
    return value


def upload_all(r: Run, public_line: str, names: Sequence[str]) -> list[up.UploadResult]:
    unknown = [n for n in names if n not in up.SUPPORTED]
    if unknown:
        raise UsageError(f"cannot upload to {', '.join(unknown)}: only {', '.join(up.SUPPORTED)} have an API for it",
                         hint="for Bitbucket and Azure DevOps paste the key by hand (onboard keygen shows where)")
    s, console = r.settings, r.console
    results = []
    for name in names:
        secret = token(r, name)
        base = s.github_api if name == "github" else s.gitlab_url
        console.step(f"Registering the key with {name} ({base})")
        result = up.upload(name, public_line, title(r), base=base, token=secret, timeout=s.timeout)
        console.ok(f"{name}: {'already registered' if result.status == 'already-registered' else 'added'}"
                   + (f" as '{result.title}'" if result.status == "added" else ""))
        results.append(result)
    return results
