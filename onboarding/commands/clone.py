"""`onboard clone URL`: trust the host, pick the disk, clone over SSH without ever hanging."""

from __future__ import annotations

from onboarding.console import Console, Result
from onboarding.errors import UsageError
from onboarding.pipeline import Run
from onboarding.pipeline.clonestage import clone_one
from onboarding.pipeline.stages import fill_users
from onboarding.secrets import Secrets
from onboarding.settings import Settings


def run(settings: Settings, secrets: Secrets, console: Console) -> Result:
    if len(settings.repos) != 1:
        raise UsageError("give exactly one repository URL to `onboard clone`")
    r = fill_users(Run.start(settings, secrets, console))
    result = clone_one(r, r.settings.repos[0], secret=secrets.passphrase, verified=set())
    console.out(result.path)
    return Result(result.as_json())
