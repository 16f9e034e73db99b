"""From a job's recorded Git properties back to its code (`git-info --job FILE [--checkout DIR]`).

A job carries what git-info shows before submission: repository URL, branch, commit and
dirty, as azureml-core (v1: `azureml.git.*` and `mlflow.source.git.*`) or azure-ai-ml (v2:
`mlflow.source.git.*` and `azureml.git.dirty`) wrote them. `read_job` finds them in `az ml
job show` JSON, a properties object or an MLflow run's tags; `compare` says, check by
check with its fix, whether the local repository holds that code; `checkout` makes a
worktree at the job's commit. git runs as git-info runs it (gitinfo.Git: the caller's
environment minus onboard's secrets, LC_ALL=C, one deadline).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from onboarding import proc, repourl
from onboarding.errors import ConflictError, GitError, NetworkError, UsageError
from onboarding.gitinfo import Git, GitRun

DIFFERS = 8  # exit code: the local code is not the job's (errors.ExitCode.DIFFERS)
_V1_ONLY = ("azureml.git.repository_uri", "azureml.git.branch", "azureml.git.commit")
_COMMIT_RE = re.compile(r"[0-9a-fA-F]{4,64}")
_NETWORK_RE = re.compile(r"Could not resolve|Connection (?:timed out|refused|reset)|No route to host|"
                         r"Network is unreachable|Operation timed out", re.IGNORECASE)


class JobGit(NamedTuple):
    url: str | None
    branch: str | None
    commit: str | None
    dirty: bool | None
    family: str  # "v1" (both key families), "v2" (MLflow keys), or "none"
    conflicts: tuple[str, ...] = ()  # keys whose v1 and MLflow values disagree


class Check(NamedTuple):
    name: str  # repository, commit, head, dirty, keys
    status: Literal["ok", "differs", "unknown"]
    message: str
    fix: str = ""


class Comparison(NamedTuple):
    job: JobGit
    checks: list[Check]
    remote: str | None  # the local remote whose URL is the job's
    head: str | None

    @property
    def matches(self) -> bool:
        return all(c.status != "differs" for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        # The URL as every human output shows it: a job's recorded token is not repeated (issue 22)
        job = {**self.job._asdict(), "url": repourl.mask(self.job.url) if self.job.url else None}
        return {"matches": self.matches, "job": job, "local": {"head": self.head, "remote": self.remote},
                "checks": [c._asdict() for c in self.checks]}


# -- reading the job ------------------------------------------------------------------------
def read_job(text: str) -> JobGit:
    """The Git properties in `az ml job show` JSON, a properties object, or MLflow run tags."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise UsageError(f"--job: not JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    props = _git_keys(data)
    if not props:
        raise UsageError("--job: the job carries no Git properties (azureml.git.* / mlflow.source.git.*)",
                         hint="it was submitted outside a repository, or azure-ai-ml >= 1.27 dropped them "
                              "because the remote URL held a token (onboard git-info warns about both)")
    return _job_git(props)


def _git_keys(data: object) -> dict[str, str]:
    found: dict[str, str] = {}
    for mapping in _candidates(data):
        for key, value in mapping.items():
            # Scalars only: a property is a string (or a number, a boolean); a nested value is not one.
            if isinstance(key, str) and key.startswith(("azureml.git.", "mlflow.source.git.")) \
                    and isinstance(value, str | int | float | bool):
                found.setdefault(key, str(value))
    return found


def _candidates(data: object) -> list[Mapping[str, Any]]:
    """The job itself, its properties and tags, an MLflow run's data.tags (dict or key/value list)."""
    if not isinstance(data, dict):
        return []
    run = data.get("run", data)
    tags = run.get("data", {}).get("tags") if isinstance(run, dict) and isinstance(run.get("data"), dict) else None
    if isinstance(tags, list):
        tags = {t["key"]: t.get("value") for t in tags if isinstance(t, dict) and isinstance(t.get("key"), str)}
    out = [data, data.get("properties"), data.get("tags"), tags]
    return [m for m in out if isinstance(m, dict)]


def _job_git(p: Mapping[str, str]) -> JobGit:
    def pick(v1: str, mlflow: str) -> str | None:
        return (p.get(mlflow) or p.get(v1) or "").strip() or None

    pairs = {"repository_uri": "repoURL", "branch": "branch", "commit": "commit"}
    conflicts = tuple(f"azureml.git.{a}" for a, b in pairs.items()
                      if f"azureml.git.{a}" in p and f"mlflow.source.git.{b}" in p
                      and p[f"azureml.git.{a}"].strip() != p[f"mlflow.source.git.{b}"].strip())
    dirty = p.get("azureml.git.dirty")
    family = "v1" if any(k in p for k in _V1_ONLY) else "v2" if any(k.startswith("mlflow.") for k in p) else "none"
    return JobGit(pick("azureml.git.repository_uri", "mlflow.source.git.repoURL"),
                  pick("azureml.git.branch", "mlflow.source.git.branch"),
                  pick("azureml.git.commit", "mlflow.source.git.commit"),
                  None if dirty is None else dirty.strip().lower() in ("true", "1"), family, conflicts)


# -- comparing with the local repository --------------------------------------------------------
def _git(path: Path | None, timeout: float, environ: Mapping[str, str] | None) -> Git:
    base = os.environ if environ is None else environ
    env = proc.caller_env(extra={"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}, base=base)
    return Git(path, env, time.monotonic() + timeout)


def compare(job: JobGit, path: Path | None, *, timeout: float = 60.0,
            environ: Mapping[str, str] | None = None) -> Comparison:
    git = _git(path, timeout, environ)
    if job.commit is not None and not _COMMIT_RE.fullmatch(job.commit):
        raise UsageError(f"--job: {job.commit!r} is not a commit id")
    runs = git.run_all({"top": ["rev-parse", "--is-inside-work-tree", "HEAD"], "remotes": ["remote", "-v"],
                        **({"has": ["cat-file", "-e", f"{job.commit}^{{commit}}"]} if job.commit else {})})
    lines = (runs["top"].stdout.decode(errors="replace")).split()
    if not lines or lines[0] != "true":
        raise UsageError(f"{path or 'the current folder'} is not inside a Git work tree",
                         hint="run it in a clone of the job's repository (onboard clone URL)")
    head = lines[1] if runs["top"].ok and len(lines) > 1 else None
    remote = _matching_remote(job.url, runs["remotes"].stdout.decode(errors="replace"))
    present = bool(job.commit) and runs["has"].ok
    checks = [_repository(job, remote, runs["remotes"].stdout), _commit(job, present, remote)]
    if present and job.commit:
        checks.append(_head(job.commit, head, git))
    checks += [_dirty(job), _keys(job)]
    return Comparison(job, checks, remote, head)


def _matching_remote(url: str | None, remote_v: str) -> str | None:
    if url is None:
        return None
    want = repourl.normalize(url)
    for line in remote_v.splitlines():
        name, _, rest = line.partition("\t")
        if rest and repourl.normalize(rest.rsplit(" (", 1)[0]) == want:
            return name
    return None


def _repository(job: JobGit, remote: str | None, remote_v: bytes) -> Check:
    if job.url is None:
        return Check("repository", "unknown", "the job recorded no repository URL")
    shown = _no_credentials(job.url)
    if remote is not None:
        return Check("repository", "ok", f"same repository: remote {remote} is {shown}")
    has = "no remote" if not remote_v.strip() else "no remote with that URL"
    return Check("repository", "differs", f"the job's repository is {shown}; this one has {has}",
                 f"work in a clone of it (onboard clone {shown}), or git remote add job {shown}")


def _commit(job: JobGit, present: bool, remote: str | None) -> Check:
    if job.commit is None:
        return Check("commit", "differs", "the job recorded no commit: git alone cannot find its code",
                     "submit from a repository with a commit (onboard git-info shows it before you submit)")
    if present:
        return Check("commit", "ok", f"commit {job.commit} is here")
    fetch = f"git fetch {remote or '<remote>'} {job.commit}"
    return Check("commit", "differs", f"commit {job.commit} is not in this repository (not fetched yet?)",
                 f"{fetch}, or onboard git-info --job FILE --checkout DIR (fetches it)")


def _head(commit: str, head: str | None, git: Git) -> Check:
    if head is not None and head.startswith(commit.lower()):
        return Check("head", "ok", "HEAD is the job's commit")
    counts = git.run_all({"c": ["rev-list", "--left-right", "--count", f"{commit}...HEAD"]})["c"]
    behind, _, ahead = (counts.text() or "").strip().partition("\t")
    where = f"{ahead} commit(s) ahead of and {behind} behind the job's commit" if counts.ok else "elsewhere"
    return Check("head", "differs", f"HEAD is {where}",
                 f"git switch --detach {commit}, or onboard git-info --job FILE --checkout DIR (a separate worktree)")


def _dirty(job: JobGit) -> Check:
    if job.dirty is None:
        return Check("dirty", "unknown", "the job did not record whether it had uncommitted changes")
    if not job.dirty:
        return Check("dirty", "ok", "the job was submitted without uncommitted changes")
    return Check("dirty", "differs", "the job was submitted with uncommitted changes: its code cannot be "
                 "reproduced from git alone", "take the job's code snapshot (studio: the job's Code tab)")


def _keys(job: JobGit) -> Check:
    who = {"v1": "azureml-core (v1: azureml.git.* and mlflow.source.git.* keys)",
           "v2": "azure-ai-ml (v2: mlflow.source.git.* keys)", "none": "only azureml.git.dirty/build keys"}[job.family]
    if job.conflicts:
        return Check("keys", "differs", f"recorded by {who}, but {', '.join(job.conflicts)} disagree with the "
                     "MLflow keys (an AZUREML_GIT_* override, or edited properties)", "trust neither without checking")
    return Check("keys", "ok", f"recorded by {who}")


def _no_credentials(url: str) -> str:
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]+@", r"\1", url, flags=re.IGNORECASE)


# -- a worktree at the job's commit ------------------------------------------------------------
def checkout(comparison: Comparison, path: Path | None, dest: Path, *, timeout: float = 60.0,
             environ: Mapping[str, str] | None = None) -> Path:
    """`git worktree add --detach DEST COMMIT`, fetching the commit from the job's remote when missing."""
    commit = comparison.job.commit
    if commit is None:
        raise UsageError("--checkout: the job recorded no commit")
    if os.path.lexists(dest):
        raise ConflictError(f"--checkout: {dest} already exists", hint="choose a new directory")
    git = _git(path, timeout, environ)
    if not _present(comparison):
        _fetch(git, comparison, commit)
    added = git.run_all({"add": ["worktree", "add", "--detach", "--", str(dest), commit]})["add"]
    if not added.ok:
        raise _failure("git worktree add", added)
    return dest


def _present(comparison: Comparison) -> bool:
    return any(c.name == "commit" and c.status == "ok" for c in comparison.checks)


def _fetch(git: Git, comparison: Comparison, commit: str) -> None:
    if comparison.remote is None:
        raise UsageError("--checkout: the job's commit is missing here and no remote is the job's repository",
                         hint="clone the job's repository first (onboard clone URL)")
    fetched = git.run_all({"f": ["fetch", "--no-tags", "--", comparison.remote, commit]})["f"]
    if not fetched.ok:
        raise _failure(f"git fetch {comparison.remote} {commit}", fetched)


def _failure(what: str, run: GitRun) -> GitError | NetworkError:
    said = run.stderr.decode(errors="replace").strip().splitlines()
    last = said[-1] if said else ("timed out" if run.timed_out else "failed")
    if run.timed_out or _NETWORK_RE.search("\n".join(said)):
        return NetworkError(f"{what}: {last}", hint="check the network, or a longer --timeout")
    return GitError(f"{what}: {last}")
