"""`onboard keys upload [PROVIDER...]`: register the public key through the GitHub / GitLab API."""

from __future__ import annotations

from pathlib import Path

from onboarding import upload as up
from onboarding.console import Console, Result
from onboarding.errors import UsageError
from onboarding.pipeline import Run
from onboarding.pipeline.upload import upload_all
from onboarding.secrets import Secrets
from onboarding.settings import Settings


def upload_cmd(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    pub = Path(str(r.key_path) + ".pub")
    from onboarding import fsutil

    try:
        public_line = (fsutil.read_bytes(pub) or b"").decode()
    except (OSError, UnicodeDecodeError):
        public_line = ""
    if not public_line.strip():
        raise UsageError(f"no public key at {pub}", hint="run `onboard keygen` first, or pass --key-file")
    results = upload_all(r, public_line, settings.upload or up.SUPPORTED)
    return Result({"uploads": [{"provider": x.provider, "status": x.status, "title": x.title} for x in results]})
