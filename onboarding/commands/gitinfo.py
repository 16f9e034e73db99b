"""`onboard git-info [PATH]`: the Git properties a job submitted from PATH would carry."""

from __future__ import annotations

from pathlib import Path

from onboarding import gitinfo
from onboarding.console import Console, Result
from onboarding.errors import UsageError
from onboarding.settings import Settings


def _mask(value: str) -> str:
    return gitinfo.CREDENTIALS_RE.sub(lambda m: m.group(0).split("//")[0] + "//***@", value)


def run(settings: Settings, console: Console) -> Result:
    path = (settings.path or Path.cwd()).expanduser()
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    raw = gitinfo.gather(path.resolve())
    props = gitinfo.properties(raw, settings.sdk)
    for w in gitinfo.warnings(raw, path):
        console.warn(f"{w.message}\n  fix: {w.fix}")
    if console.json_mode:
        return Result(props)
    if not props:
        console.out("(no Git properties would be recorded)")
        return Result(props)
    label = {"v2": "azure-ai-ml (SDK v2, az ml)", "v1": "azureml-core (SDK v1)", "all": "documentation table"}
    console.info(f"Git properties of a job submitted from {path} — {label[settings.sdk]}:")
    # The terminal shows user:token@ masked; --json gives the exact values for job properties.
    console.table([(key, _mask(value)) for key, value in props.items()])
    return Result(props)
