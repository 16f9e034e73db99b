"""`onboard keys upload [PROVIDER...]`: register the public key through the GitHub / GitLab API."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from pathlib import Path

from onboarding import upload as up
from onboarding.commands import common
from onboarding.console import Console
from onboarding.errors import UsageError
from onboarding.instance import Target, detect_compute_instance
from onboarding.settings import Settings


def title(tgt: Target) -> str:
    """Tells keys apart in the provider's list: user@host (instance) date."""
    ci = detect_compute_instance(tgt.home)
    where = f" ({ci.name})" if ci else ""
    return f"{tgt.name}@{socket.gethostname()}{where} {time.strftime('%Y-%m-%d')}"


def upload_all(settings: Settings, console: Console, tgt: Target, public_line: str,
               names: Sequence[str]) -> list[up.UploadResult]:
    unknown = [n for n in names if n not in up.SUPPORTED]
    if unknown:
        raise UsageError(f"cannot upload to {', '.join(unknown)}: only {', '.join(up.SUPPORTED)} have an API for it",
                         hint="for Bitbucket and Azure DevOps paste the key by hand (onboard keygen shows where)")
    results = []
    for name in names:
        token = up.read_token(name, settings.token_file)
        base = settings.github_api if name == "github" else settings.gitlab_url
        console.step(f"Registering the key with {name} ({base})")
        result = up.upload(name, public_line, title(tgt), base=base, token=token, timeout=settings.timeout)
        console.ok(f"{name}: {'already registered' if result.status == 'already-registered' else 'added'}"
                   + (f" as '{result.title}'" if result.status == "added" else ""))
        results.append(result)
    return results


def upload_cmd(settings: Settings, console: Console) -> int:
    tgt = common.target(settings)
    pub = Path(str(common.key_path(settings, tgt)) + ".pub")
    try:
        public_line = pub.read_text()
    except OSError:
        raise UsageError(f"no public key at {pub}", hint="run `onboard keygen` first, or pass --key-file") from None
    results = upload_all(settings, console, tgt, public_line, settings.upload or up.SUPPORTED)
    console.emit_json({"uploads": [{"provider": r.provider, "status": r.status, "title": r.title} for r in results]})
    return 0
