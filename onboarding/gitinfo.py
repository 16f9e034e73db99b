"""The Git tracking properties Azure ML attaches to a job submitted from a folder.

Reproduces azure-ai-ml's `get_git_properties()` (v2) and azureml-core's
GitTrackingInfoProvider (v1) exactly — same keys, values and absences — with fewer
git processes. The SDKs run five commands one after another:

    rev-parse --is-inside-work-tree | ls-remote --get-url | symbolic-ref --short HEAD
    rev-parse HEAD | status --porcelain .

Here `rev-parse --is-inside-work-tree HEAD --symbolic-full-name HEAD --abbrev-ref HEAD`
answers the first, third and fourth, beside `ls-remote --get-url` (which only reads the
config). `status` — which runs the repository's fsmonitor, filters and hooks — starts only
once that said `true`, as in the SDK. `--abbrev-ref` shortens strictly (`heads/x` when a
remote-tracking `refs/remotes/x` exists) and `symbolic-ref --short` loosely, so the
combined answer is used only when it is the branch's plain name; otherwise (such names,
an unborn branch, a detached HEAD) the SDK's own commands run, so the result is the same
by construction. One deadline bounds all of it. Imports nothing heavy: it must start fast.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from onboarding import proc

DEFAULT_TIMEOUT = 60.0  # the SDKs wait forever; a hung network share should not hang us

ENV = {
    "repo": "AZUREML_GIT_REPOSITORY_URI",
    "branch": "AZUREML_GIT_BRANCH",
    "commit": "AZUREML_GIT_COMMIT",
    "dirty": "AZUREML_GIT_DIRTY",
    "build_id": "AZUREML_GIT_BUILD_ID",
    "build_uri": "AZUREML_GIT_BUILD_URI",
}
V1_KEYS = {  # azureml-core: both families, in its order
    "repo": ("azureml.git.repository_uri", "mlflow.source.git.repoURL"),
    "branch": ("azureml.git.branch", "mlflow.source.git.branch"),
    "commit": ("azureml.git.commit", "mlflow.source.git.commit"),
    "dirty": ("azureml.git.dirty",),
    "build_id": ("azureml.git.build_id",),
    "build_uri": ("azureml.git.build_uri",),
}
V2_KEYS = {  # azure-ai-ml: MLflow keys plus azureml.git.dirty/build_*
    "repo": ("mlflow.source.git.repoURL",),
    "branch": ("mlflow.source.git.branch",),
    "commit": ("mlflow.source.git.commit",),
    "dirty": ("azureml.git.dirty",),
    "build_id": ("azureml.git.build_id",),
    "build_uri": ("azureml.git.build_uri",),
}
DOC_TABLE = (  # the seven properties of the Azure ML documentation table
    "azureml.git.repository_uri", "mlflow.source.git.repoURL", "azureml.git.branch",
    "mlflow.source.git.branch", "azureml.git.commit", "mlflow.source.git.commit", "azureml.git.dirty",
)
# azure-ai-ml >= 1.27 `has_pat_token`: any user part in an https URL counts as a token.
SDK_TOKEN_RE = re.compile(r"https://(?:[^/@]+/)?([^/@]+)@")
# What the terminal masks: any user[:password]@ after a scheme.
CREDENTIALS_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@]+@", re.IGNORECASE)
# What is worth a warning: a user part in http(s) (a token or a login), or a password anywhere.
# `ssh://git@host/...` is the normal ssh user, not a secret.
_SECRET_IN_URL_RE = re.compile(r"^(?:https?://[^/@]+@|[a-z][a-z0-9+.-]*://[^/@:]*:[^/@]+@)", re.IGNORECASE)


class GitRun(NamedTuple):  # NamedTuples, not dataclasses: git-info must start fast
    ok: bool
    stdout: bytes = b""
    stderr: bytes = b""
    missing: bool = False  # git is not installed
    timed_out: bool = False

    def text(self) -> str | None:
        """The SDK's `check_output(...).decode()`: None on failure or on non-UTF-8 output."""
        if not self.ok:
            return None
        try:
            return self.stdout.decode()
        except UnicodeDecodeError:
            return None


class Git(NamedTuple):
    """Where and how git runs: the folder (None: this process's own, as the SDK), environment, deadline."""

    cwd: Path | None
    env: Mapping[str, str]
    deadline: float

    def start(self, args: Sequence[str]) -> proc.Popen[bytes] | GitRun:
        """Start git without waiting, so several run at once; a GitRun when it could not start."""
        if time.monotonic() >= self.deadline:
            return GitRun(False, timed_out=True)
        try:
            return proc.start(["git", *args], env=self.env, cwd=self.cwd)
        except FileNotFoundError as exc:  # git itself, or a folder deleted since
            # subprocess names the cwd it was given (a Path) or the program: compare as text
            return GitRun(False, missing=str(exc.filename) != str(self.cwd))
        except OSError:
            return GitRun(False)

    def finish(self, p: proc.Popen[bytes] | GitRun) -> GitRun:
        if isinstance(p, GitRun):
            return p
        done = proc.finish(p, deadline=self.deadline)  # kills git's whole group at the deadline
        return GitRun(done.returncode == 0 and not done.timed_out, done.stdout, done.stderr,
                      timed_out=done.timed_out)

    def run_all(self, jobs: Mapping[str, Sequence[str]]) -> dict[str, GitRun]:
        started = {name: self.start(args) for name, args in jobs.items()}  # all at once
        return {name: self.finish(p) for name, p in started.items()}


class Raw:
    """What git said, before the SDK's cleaning; None means 'absent'."""

    def __init__(self, values: dict[str, str | bool | None], inside: bool, top_stderr: str = "") -> None:
        self.values = values
        self.inside = inside
        self.top_stderr = top_stderr
        self.status_lines: list[str] = []
        self.problems: list[str] = []  # git-missing, timeout, dubious-ownership, cwd-deleted, branch-not-utf8
        self.timeout = DEFAULT_TIMEOUT


def _clean_str(value: str | bool | None) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _clean_bool(value: str | bool | None) -> bool | None:
    if value is None:
        return None
    return str(value).strip().lower() in ("true", "1")


def cwd_deleted() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def gather(path: Path | None, environ: Mapping[str, str] | None = None, *,
           timeout: float = DEFAULT_TIMEOUT) -> Raw:
    """Run git in `path` (None: the current folder, even a deleted one, as the SDK does).

    git gets the caller's environment minus onboard's secrets (parity with the SDK) and
    LC_ALL=C, so that its messages (dubious ownership ...) read the same in every locale.
    """
    env = os.environ if environ is None else environ
    git = Git(path, proc.caller_env(extra={"LC_ALL": "C"}, base=env), time.monotonic() + timeout)
    values: dict[str, str | bool | None] = {k: env.get(v) for k, v in ENV.items()}
    jobs: dict[str, list[str]] = {
        "top": ["rev-parse", "--is-inside-work-tree", "HEAD", "--symbolic-full-name", "HEAD", "--abbrev-ref", "HEAD"]}
    if not values["repo"]:
        jobs["repo"] = ["ls-remote", "--get-url"]  # reads the config only: safe before the gate
    runs = git.run_all(jobs)
    top = runs["top"]
    raw = Raw(values, inside=False, top_stderr=top.stderr.decode(errors="replace"))
    raw.timeout = timeout
    lines = top.stdout.decode(errors="replace").splitlines() if not top.missing else []
    raw.inside = bool(lines) and _clean_bool(lines[0]) is True
    if raw.inside:
        runs.update(_inside(raw, git, runs))
    _note_problems(raw, runs, path)
    return raw


def _plain(top: GitRun) -> tuple[str, str] | None:
    """(commit, branch) when the combined rev-parse named a branch as symbolic-ref --short would."""
    lines = (top.text() or "").splitlines()
    if len(lines) == 4 and lines[2] == f"refs/heads/{lines[3]}":
        return lines[1], lines[3]
    return None


def _inside(raw: Raw, git: Git, runs: Mapping[str, GitRun]) -> dict[str, GitRun]:
    values = raw.values
    top = runs["top"]
    plain = _plain(top)
    jobs: dict[str, list[str]] = {}
    if not values["dirty"]:
        jobs["status"] = ["status", "--porcelain", "."]
    if not values["branch"] and plain is None:  # ask exactly as the SDK does
        jobs["branch"] = ["symbolic-ref", "--short", "HEAD"]
    if not values["commit"] and plain is None:
        jobs["commit"] = ["rev-parse", "HEAD"]
    more = git.run_all(jobs)
    if not values["repo"]:
        values["repo"] = runs["repo"].text()
    if plain is not None:
        values["commit"] = values["commit"] or plain[0] + "\n"
        values["branch"] = values["branch"] or plain[1] + "\n"
    else:
        values["commit"] = values["commit"] or more["commit"].text()
        values["branch"] = values["branch"] or more["branch"].text()
        if "branch" in more and more["branch"].ok and more["branch"].text() is None:
            raw.problems.append("branch-not-utf8")
    if not values["dirty"]:
        status = more["status"].text()
        raw.status_lines = status.splitlines() if status else []
        # The SDK: `dirty or output and True` -> "" (clean) stays falsy, text becomes True.
        values["dirty"] = None if status is None else (bool(status) or status)
    return more


def _note_problems(raw: Raw, runs: Mapping[str, GitRun], path: Path | None) -> None:
    if any(r.missing for r in runs.values()):
        raw.problems.append("git-missing")
    if any(r.timed_out for r in runs.values()):
        raw.problems.append("timeout")
    if "dubious ownership" in raw.top_stderr:
        raw.problems.append("dubious-ownership")
    if path is None and not raw.inside and cwd_deleted():
        raw.problems.append("cwd-deleted")


def properties(raw: Raw, sdk: str) -> dict[str, str]:
    """The mapping the SDK would attach: 'v2', 'v1', or 'all' (the documentation's seven)."""
    cleaned: dict[str, str | None] = {
        "repo": _clean_str(raw.values["repo"]),
        "branch": _clean_str(raw.values["branch"]),
        "commit": _clean_str(raw.values["commit"]),
        "dirty": None if _clean_bool(raw.values["dirty"]) is None else str(_clean_bool(raw.values["dirty"])),
        "build_id": _clean_str(raw.values["build_id"]),
        "build_uri": _clean_str(raw.values["build_uri"]),
    }
    table = V2_KEYS if sdk == "v2" else V1_KEYS
    out = {key: value for name, value in cleaned.items() if value is not None for key in table[name]}
    if sdk == "all":
        out = {k: out[k] for k in DOC_TABLE if k in out}
    return out


class Warning_(NamedTuple):
    code: str
    message: str
    fix: str


def warnings(raw: Raw, path: Path | None) -> list[Warning_]:
    out = [_WARNINGS[code](raw, path) for code in _PROBLEM_ORDER if code in raw.problems]
    if not raw.inside and not out:
        out.append(Warning_("not-a-repository",
                            f"{_where(path)} is not inside a Git work tree: nothing will be tracked",
                            "submit from a clone (onboard clone URL), or set AZUREML_GIT_* variables"))
    if raw.inside:
        out.extend(_repo_warnings(raw))
    return out


def _where(path: Path | None) -> str:
    return "the current folder" if path is None else str(path)


def _git_missing(raw: Raw, path: Path | None) -> Warning_:
    return Warning_("git-missing", "git is not installed: nothing will be tracked", "install git (apt-get install git)")


def _dubious(raw: Raw, path: Path | None) -> Warning_:
    top = _dubious_path(raw.top_stderr) or _where(path)
    return Warning_(
        "dubious-ownership",
        f"git refuses {top}: it is owned by another user ('dubious ownership'), so every git "
        "call the SDK makes fails silently and nothing is tracked",
        f"only if you trust that user: git config --global --add safe.directory {_sh_quoted(top)} (their repository "
        "config — hooks, fsmonitor, filters — then runs as you); otherwise work in your own clone",
    )


def _timeout(raw: Raw, path: Path | None) -> Warning_:
    return Warning_("timeout", f"git did not finish within {raw.timeout:g}s (slow share?): the SDK would wait",
                    "use a clone on local disk, or a longer --timeout")


def _cwd_deleted(raw: Raw, path: Path | None) -> Warning_:
    return Warning_("cwd-deleted", "the current folder was deleted (or moved) while you were in it: git fails "
                    "there and nothing is tracked", 'cd back into the project (cd "$PWD" if it was re-created)')


def _branch_not_utf8(raw: Raw, path: Path | None) -> Warning_:
    return Warning_("branch-not-utf8", "the branch name is not valid UTF-8: the SDK records no branch",
                    "rename the branch: git branch -m <utf-8-name>")


_PROBLEM_ORDER = ("git-missing", "dubious-ownership", "cwd-deleted", "timeout")
_WARNINGS = {"git-missing": _git_missing, "dubious-ownership": _dubious, "timeout": _timeout,
             "cwd-deleted": _cwd_deleted}


def _dubious_path(stderr: str) -> str | None:
    # git quotes the path without escaping: it runs to the last quote of the line (`/srv/it's`)
    m = re.search(r"dubious ownership in repository at '(.+)'[ \t]*$", stderr, re.MULTILINE)
    return m.group(1) if m else None


def _sh_quoted(path: str) -> str:
    """`path` in single quotes for a shell, a quote inside it too ('/srv/it'\\''s')."""
    return "'" + path.replace("'", "'\\''") + "'"


def _repo_warnings(raw: Raw) -> list[Warning_]:
    out = []
    url = _clean_str(raw.values["repo"])
    dropped = bool(url and SDK_TOKEN_RE.search(url))
    if url and (dropped or _SECRET_IN_URL_RE.match(url)):
        effect = ("azure-ai-ml >= 1.27 then drops ALL Git properties from the job"
                  if dropped else "azure-ai-ml does not detect it here and records it")
        out.append(Warning_(
            "credentials-in-url",
            f"the remote URL carries a user name or token ({effect}; azureml-core stores it in the job)",
            "switch the remote to SSH: git remote set-url origin git@HOST:ORG/REPO.git",
        ))
    if "branch-not-utf8" in raw.problems:
        out.append(_branch_not_utf8(raw, None))
    elif raw.values["branch"] is None:
        out.append(Warning_("detached-head", "HEAD is detached: no branch will be recorded",
                            "check out a branch, or set AZUREML_GIT_BRANCH=<name> before submitting"))
    if url is None and "timeout" not in raw.problems:  # a timed-out ls-remote says nothing about remotes
        out.append(Warning_("no-remote", "no remote configured: no repository URL will be recorded",
                            "git remote add origin git@HOST:ORG/REPO.git"))
    if raw.status_lines and all(line.startswith("??") for line in raw.status_lines):
        names = [line[3:] for line in raw.status_lines[:3]]
        more = f" and {len(raw.status_lines) - 3} more" if len(raw.status_lines) > 3 else ""
        out.append(Warning_("untracked-only", f"dirty only because of untracked files: {', '.join(names)}{more}",
                            "commit them, or add them to .gitignore"))
    return out
