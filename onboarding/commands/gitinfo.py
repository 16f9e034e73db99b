"""`onboard git-info [PATH]`: the Git properties a job submitted from PATH would carry."""

from __future__ import annotations

from onboarding import gitinfo
from onboarding.console import Console
from onboarding.errors import UsageError
from onboarding.settings import Settings


def _mask(value: str) -> str:
    return gitinfo.CREDENTIALS_RE.sub(lambda m: m.group(0).split("//")[0] + "//***@", value)


def _printable(text: str, console: Console) -> str:
    """What the terminal's encoding can show (a branch `feature/日本` in a Latin-1 locale: escaped)."""
    encoding = getattr(console.stdout, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def run(settings: Settings, console: Console) -> int:
    if not 0 < settings.git_timeout <= 3600:
        raise UsageError(f"--timeout {settings.git_timeout:g}: choose more than 0 and at most 3600 seconds")
    if settings.checkout is not None or settings.job is not None:
        raise UsageError("--checkout needs --job FILE (the job whose commit to check out)")
    # No PATH: git runs in this process's own folder, as the SDK does (even a deleted one).
    path = settings.path.expanduser() if settings.path else None
    if path is not None and not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    raw = gitinfo.gather(path, timeout=settings.git_timeout)
    props = gitinfo.properties(raw, settings.sdk)
    for w in gitinfo.warnings(raw, path):
        console.warn(f"{w.message}\n  fix: {w.fix}")
    console.emit_json(props)
    if console.json_mode:
        return 0
    if not props:
        console.out("(no Git properties would be recorded)")
        return 0
    label = {"v2": "azure-ai-ml (SDK v2, az ml)", "v1": "azureml-core (SDK v1)", "all": "documentation table"}
    console.info(f"Git properties of a job submitted from {path or 'the current folder'} — {label[settings.sdk]}:")
    # The terminal shows user:token@ masked; --json gives the exact values for job properties.
    console.table([(key, _printable(_mask(value), console)) for key, value in props.items()])
    return 0
