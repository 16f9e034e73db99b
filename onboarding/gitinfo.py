"""The Git tracking properties Azure ML attaches to a job submitted from a folder.

Reproduces azure-ai-ml's `get_git_properties()` (v2) and azureml-core's
GitTrackingInfoProvider (v1) exactly — same keys, values and absences — with fewer,
parallel git processes. The SDKs run five commands one after another:

    rev-parse --is-inside-work-tree | ls-remote --get-url | symbolic-ref --short HEAD
    rev-parse HEAD | status --porcelain .

Here one `rev-parse --is-inside-work-tree HEAD --abbrev-ref HEAD` answers the first,
third and fourth (--abbrev-ref shortens exactly as symbolic-ref --short does, "heads/x"
when a tag x exists; `status --porcelain=v2 --branch` would say "x", so it is not used
for the branch), and it runs beside ls-remote and status. Whenever that combined answer
is not the plain case (unborn branch, detached HEAD), the SDK's own commands are run,
so the result is the same by construction. Imports nothing heavy: it must start fast.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

GIT_TIMEOUT = 60.0  # the SDKs wait forever; a hung network share should not hang us

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
CREDENTIALS_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@]+@", re.IGNORECASE)


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


def start_git(args: Sequence[str], cwd: Path) -> subprocess.Popen[bytes] | GitRun:
    """Start git without waiting, so several run at once; a GitRun when it could not start."""
    try:
        return subprocess.Popen(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return GitRun(False, missing=True)
    except OSError:
        return GitRun(False)


def finish_git(proc: subprocess.Popen[bytes] | GitRun) -> GitRun:
    if isinstance(proc, GitRun):
        return proc
    try:
        out, err = proc.communicate(timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return GitRun(False, timed_out=True)
    return GitRun(proc.returncode == 0, out, err)


def run_git(args: Sequence[str], cwd: Path) -> GitRun:
    return finish_git(start_git(args, cwd))


class Raw:
    """What git said, before the SDK's cleaning; None means 'absent'."""

    def __init__(self, values: dict[str, str | bool | None], inside: bool, top_stderr: str = "") -> None:
        self.values = values
        self.inside = inside
        self.top_stderr = top_stderr
        self.status_lines: list[str] = []
        self.problems: list[str] = []  # dubious-ownership, git-missing, timeout


def _clean_str(value: str | bool | None) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _clean_bool(value: str | bool | None) -> bool | None:
    if value is None:
        return None
    return str(value).strip().lower() in ("true", "1")


def gather(path: Path, environ: Mapping[str, str] | None = None) -> Raw:
    env = os.environ if environ is None else environ
    values: dict[str, str | bool | None] = {k: env.get(v) for k, v in ENV.items()}
    jobs: dict[str, list[str]] = {"top": ["rev-parse", "--is-inside-work-tree", "HEAD", "--abbrev-ref", "HEAD"]}
    if not values["repo"]:
        jobs["repo"] = ["ls-remote", "--get-url"]
    if not values["dirty"]:
        jobs["status"] = ["status", "--porcelain", "."]
    started = {name: start_git(args, path) for name, args in jobs.items()}  # all at once
    runs = {name: finish_git(proc) for name, proc in started.items()}
    top = runs["top"]
    raw = Raw(values, inside=False, top_stderr=top.stderr.decode(errors="replace"))
    _note_problems(raw, runs)
    lines = top.stdout.decode(errors="replace").splitlines() if not top.missing else []
    raw.inside = bool(lines) and _clean_bool(lines[0]) is True
    if not raw.inside:
        return raw
    if not values["repo"]:
        values["repo"] = runs["repo"].text()
    _branch_and_commit(raw, top, path)
    if not values["dirty"]:
        status = runs["status"].text()
        raw.status_lines = status.splitlines() if status else []
        # The SDK: `dirty or output and True` -> "" (clean) stays falsy, text becomes True.
        values["dirty"] = None if status is None else (bool(status) or status)
    return raw


def _branch_and_commit(raw: Raw, top: GitRun, path: Path) -> None:
    values = raw.values
    plain = top.ok and top.text() is not None
    lines = (top.text() or "").splitlines()
    branch: str | None
    commit: str | None
    if plain and len(lines) == 3 and lines[2] != "HEAD":
        commit, branch = lines[1] + "\n", lines[2] + "\n"
    else:  # unborn branch, detached HEAD, odd output: ask exactly as the SDK does
        branch = run_git(["symbolic-ref", "--short", "HEAD"], path).text() if not values["branch"] else None
        commit = run_git(["rev-parse", "HEAD"], path).text() if not values["commit"] else None
    values["branch"] = values["branch"] or branch
    values["commit"] = values["commit"] or commit


def _note_problems(raw: Raw, runs: Mapping[str, GitRun]) -> None:
    if any(r.missing for r in runs.values()):
        raw.problems.append("git-missing")
    if any(r.timed_out for r in runs.values()):
        raw.problems.append("timeout")
    if "dubious ownership" in raw.top_stderr:
        raw.problems.append("dubious-ownership")


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


def warnings(raw: Raw, path: Path) -> list[Warning_]:
    out: list[Warning_] = []
    if "git-missing" in raw.problems:
        out.append(Warning_("git-missing", "git is not installed: nothing will be tracked",
                            "install git (apt-get install git)"))
    if "dubious-ownership" in raw.problems:
        top = _dubious_path(raw.top_stderr) or str(path)
        out.append(Warning_(
            "dubious-ownership",
            f"git refuses {top}: it is owned by another user ('dubious ownership'), so every git "
            "call the SDK makes fails silently and nothing is tracked",
            f"git config --global --add safe.directory '{top}'",
        ))
    if "timeout" in raw.problems:
        out.append(Warning_("timeout", f"a git command took longer than {GIT_TIMEOUT:g}s (slow share?)",
                            "the SDK would wait; consider a clone on local disk"))
    if not raw.inside and not out:
        out.append(Warning_("not-a-repository", f"{path} is not inside a Git work tree: nothing will be tracked",
                            "submit from a clone (onboard clone URL), or set AZUREML_GIT_* variables"))
    if raw.inside:
        out.extend(_repo_warnings(raw))
    return out


def _dubious_path(stderr: str) -> str | None:
    m = re.search(r"dubious ownership in repository at '([^']+)'", stderr)
    return m.group(1) if m else None


def _repo_warnings(raw: Raw) -> list[Warning_]:
    out = []
    url = _clean_str(raw.values["repo"])
    if url and CREDENTIALS_RE.match(url):
        dropped = bool(SDK_TOKEN_RE.search(url))
        effect = ("azure-ai-ml >= 1.27 then drops ALL Git properties from the job"
                  if dropped else "azure-ai-ml does not detect it here and records it")
        out.append(Warning_(
            "credentials-in-url",
            f"the remote URL carries a user name or token ({effect}; azureml-core stores it in the job)",
            "switch the remote to SSH: git remote set-url origin git@HOST:ORG/REPO.git",
        ))
    if raw.values["branch"] is None:
        out.append(Warning_("detached-head", "HEAD is detached: no branch will be recorded",
                            "check out a branch, or set AZUREML_GIT_BRANCH=<name> before submitting"))
    if url is None:
        out.append(Warning_("no-remote", "no remote configured: no repository URL will be recorded",
                            "git remote add origin git@HOST:ORG/REPO.git"))
    if raw.status_lines and all(line.startswith("??") for line in raw.status_lines):
        names = [line[3:] for line in raw.status_lines[:3]]
        more = f" and {len(raw.status_lines) - 3} more" if len(raw.status_lines) > 3 else ""
        out.append(Warning_("untracked-only", f"dirty only because of untracked files: {', '.join(names)}{more}",
                            "commit them, or add them to .gitignore"))
    return out
