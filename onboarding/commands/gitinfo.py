"""`onboard git-info [PATH]`: the Git properties a job submitted from PATH would carry."""

from __future__ import annotations

from pathlib import Path

from onboarding import gitinfo
from onboarding.console import Console, Result
from onboarding.errors import ExitCode, UsageError
from onboarding.settings import Settings


def _mask(value: str) -> str:
    """A token or password before the host becomes ***; ssh's `git@` is a login name, shown as is
    (masked, `ssh://***@github.com/...` looked like something was wrong with the URL)."""
    if not gitinfo._SECRET_IN_URL_RE.match(value):  # the same test as the token-in-URL warning
        return value
    return gitinfo.CREDENTIALS_RE.sub(lambda m: m.group(0).split("//")[0] + "//***@", value)


def _printable(text: str, console: Console) -> str:
    """What the terminal's encoding can show (a branch `feature/日本` in a Latin-1 locale: escaped)."""
    encoding = getattr(console.stdout, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def run(settings: Settings, console: Console) -> Result:
    if not 0 < settings.git_timeout <= 3600:
        raise UsageError(f"--timeout {settings.git_timeout:g}: choose more than 0 and at most 3600 seconds")
    if settings.job is not None:
        return _job(settings.job, settings, console)
    if settings.checkout is not None:
        raise UsageError("--checkout needs --job FILE (the job whose commit to check out)")
    # No PATH: git runs in this process's own folder, as the SDK does (even a deleted one).
    path = settings.path.expanduser() if settings.path else None
    if path is not None and not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    raw = gitinfo.gather(path, timeout=settings.git_timeout)
    props = gitinfo.properties(raw, settings.sdk)
    for w in gitinfo.warnings(raw, path):
        console.warn(f"{w.message}\n  fix: {w.fix}")
    if console.json_mode:
        return Result(props)
    if not props:
        console.out("(no Git properties would be recorded)")
        return Result(props)
    label = {"v2": "azure-ai-ml (SDK v2, az ml)", "v1": "azureml-core (SDK v1)", "all": "documentation table"}
    console.info(f"Git properties of a job submitted from {path or 'the current folder'} — {label[settings.sdk]}:")
    # The terminal shows user:token@ masked; --json gives the exact values for job properties.
    console.table([(key, _printable(_mask(value), console)) for key, value in props.items()])
    return Result(props)


def _job(job: Path, settings: Settings, console: Console) -> Result:
    """--job FILE [--checkout DIR]: does the local repository hold the job's code? 0 yes, 8 no."""
    from onboarding import gitjob

    try:
        text = console.stdin.read() if str(job) == "-" else job.expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--job {job}: cannot read it ({exc})") from None
    path = settings.path.expanduser() if settings.path else None
    comparison = gitjob.compare(gitjob.read_job(text), path, timeout=settings.git_timeout)
    if settings.checkout is not None:
        dest = gitjob.checkout(comparison, path, settings.checkout.expanduser(), timeout=settings.git_timeout)
        console.ok(f"worktree at the job's commit: {dest}")
        if comparison.job.dirty:
            console.warn("the job had uncommitted changes: this worktree lacks them")
    for c in comparison.checks:
        line = _printable(f"{'ok' if c.status == 'ok' else c.status:8} {c.name:10} {c.message}", console)
        console.out(line + (f"\n{'':20}fix: {_printable(c.fix, console)}" if c.fix and c.status != "ok" else ""))
    # "differs" is a verdict, not a failure: the comparison is the document either way
    return Result(comparison.as_json(), 0 if comparison.matches else int(ExitCode.DIFFERS))
