"""git-info: exact Azure ML Git properties for every repository state, checked three ways:
against the real azure-ai-ml function (when installed; CI installs it), against a
transcription of the SDKs' five sequential commands, and against hand-written values."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import run_env
from helpers.gitrepo import git, make_repo
from helpers.run import onboard

from onboarding import gitinfo

ENV_NAMES = ("AZUREML_GIT_REPOSITORY_URI", "AZUREML_GIT_BRANCH", "AZUREML_GIT_COMMIT", "AZUREML_GIT_DIRTY",
             "AZUREML_GIT_BUILD_ID", "AZUREML_GIT_BUILD_URI")


def _sdk_git(args: list[str], cwd: Path, env: dict[str, str]) -> str | None:
    try:
        return subprocess.check_output(["git", *args], cwd=cwd, env=env, stderr=subprocess.DEVNULL).decode()
    except Exception:
        return None


def reference(cwd: Path, extra: dict[str, str], *, v1: bool) -> dict[str, str]:
    """The SDKs' algorithm as documented (../shared/reference/azureml-facts.md), one command at a time."""
    env = {**os.environ, **extra}
    repo, branch, commit, dirty = (env.get(n) for n in ENV_NAMES[:4])
    build_id, build_uri = env.get(ENV_NAMES[4]), env.get(ENV_NAMES[5])
    inside = _sdk_git(["rev-parse", "--is-inside-work-tree"], cwd, env)
    dirty_v: str | bool | None = dirty
    if inside is not None and inside.strip().lower() in ("true", "1"):
        repo = repo or _sdk_git(["ls-remote", "--get-url"], cwd, env)
        branch = branch or _sdk_git(["symbolic-ref", "--short", "HEAD"], cwd, env)
        commit = commit or _sdk_git(["rev-parse", "HEAD"], cwd, env)
        dirty_v = dirty or (_sdk_git(["status", "--porcelain", "."], cwd, env) and True)

    def s(v: str | None) -> str | None:
        return None if v is None else (str(v).strip() or None)

    d = None if dirty_v is None else str(str(dirty_v).strip().lower() in ("true", "1"))
    fam = {
        "repo": ["azureml.git.repository_uri", "mlflow.source.git.repoURL"] if v1 else ["mlflow.source.git.repoURL"],
        "branch": ["azureml.git.branch", "mlflow.source.git.branch"] if v1 else ["mlflow.source.git.branch"],
        "commit": ["azureml.git.commit", "mlflow.source.git.commit"] if v1 else ["mlflow.source.git.commit"],
    }
    out: dict[str, str] = {}
    for name, value in (("repo", s(repo)), ("branch", s(branch)), ("commit", s(commit))):
        if value is not None:
            for k in fam[name]:
                out[k] = value
    if d is not None:
        out["azureml.git.dirty"] = d
    if s(build_id):
        out["azureml.git.build_id"] = s(build_id)  # type: ignore[assignment]
    if s(build_uri):
        out["azureml.git.build_uri"] = s(build_uri)  # type: ignore[assignment]
    return out


def git_info(cwd: Path, sdk: str, extra: dict[str, str]) -> dict[str, str]:
    r = run_env("git-info", str(cwd), "--sdk", sdk, "--json", env=extra)
    assert r.returncode == 0, r.output
    return dict(json.loads(r.stdout))


# -- the repository states ------------------------------------------------------------
SSH_URL = "git@github.com:org/app.git"


def clean(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp / "clean")
    git("remote", "add", "origin", SSH_URL, cwd=repo)
    return repo, {}


def modified(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, env = clean(tmp)
    (repo / "README.md").write_text("changed\n")
    return repo, env


def untracked_only(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, env = clean(tmp)
    (repo / "notes.txt").write_text("x\n")
    return repo, env


def detached(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, env = clean(tmp)
    git("checkout", "-q", "--detach", cwd=repo)
    return repo, env


def no_commits(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp / "empty"
    git("init", "-q", str(repo))
    git("remote", "add", "origin", SSH_URL, cwd=repo)
    return repo, {}


def no_remote(tmp: Path) -> tuple[Path, dict[str, str]]:
    return make_repo(tmp / "noremote"), {}


def not_a_repo(tmp: Path) -> tuple[Path, dict[str, str]]:
    d = tmp / "plain"
    d.mkdir(parents=True)
    return d, {}


def inside_git_dir(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, env = clean(tmp)
    return repo / ".git", env


def below_top_changes_elsewhere(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp / "nested", {"README.md": "a\n", "sub/train.py": "print(1)\n"})
    git("remote", "add", "origin", SSH_URL, cwd=repo)
    (repo / "README.md").write_text("changed at the top\n")
    return repo / "sub", {}


def upstream_remote(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, env = clean(tmp)
    git("remote", "add", "upstream", "git@gitlab.com:team/app.git", cwd=repo)
    git("config", "branch.main.remote", "upstream", cwd=repo)
    return repo, env


def insteadof(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp / "insteadof")
    git("remote", "add", "origin", "gh:org/app.git", cwd=repo)
    git("config", "url.git@github.com:.insteadOf", "gh:", cwd=repo)
    return repo, {}


def overrides(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, _ = modified(tmp)
    return repo, {"AZUREML_GIT_REPOSITORY_URI": " https://example.test/r ", "AZUREML_GIT_BRANCH": "release",
                  "AZUREML_GIT_COMMIT": "abc123", "AZUREML_GIT_DIRTY": "0", "AZUREML_GIT_BUILD_ID": "42",
                  "AZUREML_GIT_BUILD_URI": "https://ci.example.test/42"}


def overrides_outside(tmp: Path) -> tuple[Path, dict[str, str]]:
    d, _ = not_a_repo(tmp)
    return d, {"AZUREML_GIT_BRANCH": "main", "AZUREML_GIT_DIRTY": "TRUE", "AZUREML_GIT_BUILD_ID": "7"}


def empty_overrides(tmp: Path) -> tuple[Path, dict[str, str]]:
    d, _ = not_a_repo(tmp)
    return d, {"AZUREML_GIT_REPOSITORY_URI": "", "AZUREML_GIT_DIRTY": ""}


def empty_overrides_inside(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, _ = modified(tmp)
    return repo, {"AZUREML_GIT_BRANCH": "  ", "AZUREML_GIT_DIRTY": "", "AZUREML_GIT_COMMIT": ""}


def branch_shadowed_by_tag(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, env = clean(tmp)
    git("tag", "main", cwd=repo)
    return repo, env


def token_url(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp / "token")
    git("remote", "add", "origin", "https://ghp_secret123@github.com/org/app.git", cwd=repo)
    return repo, {}


def _branch_beside_remote_ref(tmp: Path, branch: str) -> tuple[Path, dict[str, str]]:
    """A local branch whose name is also a remote-tracking ref's short name (rev-parse --abbrev-ref
    then says heads/<name>, symbolic-ref --short <name>)."""
    repo, env = clean(tmp)
    git("update-ref", "refs/remotes/origin/main", "HEAD", cwd=repo)
    git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main", cwd=repo)
    git("update-ref", "refs/remotes/upstream/dev", "HEAD", cwd=repo)
    git("checkout", "-q", "-b", branch, cwd=repo)
    return repo, env


def branch_origin_main(tmp: Path) -> tuple[Path, dict[str, str]]:
    return _branch_beside_remote_ref(tmp, "origin/main")


def branch_origin(tmp: Path) -> tuple[Path, dict[str, str]]:
    return _branch_beside_remote_ref(tmp, "origin")


def branch_upstream_dev(tmp: Path) -> tuple[Path, dict[str, str]]:
    return _branch_beside_remote_ref(tmp, "upstream/dev")


def branch_origin_head(tmp: Path) -> tuple[Path, dict[str, str]]:
    return _branch_beside_remote_ref(tmp, "origin/HEAD")


def branch_shadowed_by_tag_and_remote(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo, env = _branch_beside_remote_ref(tmp, "origin/main")
    git("tag", "origin/main", cwd=repo)
    return repo, env


STATES: dict[str, Callable[[Path], tuple[Path, dict[str, str]]]] = {
    f.__name__: f for f in (clean, modified, untracked_only, detached, no_commits, no_remote, not_a_repo,
                            inside_git_dir, below_top_changes_elsewhere, upstream_remote, insteadof, overrides,
                            overrides_outside, empty_overrides, empty_overrides_inside, branch_shadowed_by_tag,
                            token_url, branch_origin_main, branch_origin, branch_upstream_dev, branch_origin_head,
                            branch_shadowed_by_tag_and_remote)
}

EXPECTED_V2 = {  # hand-checked values; commit "*" = the repository's HEAD
    "clean": {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": "main",
              "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"},
    "modified": {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": "main",
                 "mlflow.source.git.commit": "*", "azureml.git.dirty": "True"},
    "untracked_only": {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": "main",
                       "mlflow.source.git.commit": "*", "azureml.git.dirty": "True"},
    "detached": {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"},
    "no_commits": {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": "main",
                   "azureml.git.dirty": "False"},
    "no_remote": {"mlflow.source.git.branch": "main", "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"},
    "not_a_repo": {},
    "inside_git_dir": {},
    "below_top_changes_elsewhere": {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": "main",
                                    "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"},
    "upstream_remote": {"mlflow.source.git.repoURL": "git@gitlab.com:team/app.git",
                        "mlflow.source.git.branch": "main", "mlflow.source.git.commit": "*",
                        "azureml.git.dirty": "False"},
    "insteadof": {"mlflow.source.git.repoURL": "git@github.com:org/app.git", "mlflow.source.git.branch": "main",
                  "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"},
    "overrides": {"mlflow.source.git.repoURL": "https://example.test/r", "mlflow.source.git.branch": "release",
                  "mlflow.source.git.commit": "abc123", "azureml.git.dirty": "False",
                  "azureml.git.build_id": "42", "azureml.git.build_uri": "https://ci.example.test/42"},
    "overrides_outside": {"mlflow.source.git.branch": "main", "azureml.git.dirty": "True",
                          "azureml.git.build_id": "7"},
    "empty_overrides": {"azureml.git.dirty": "False"},
    "empty_overrides_inside": {"mlflow.source.git.repoURL": SSH_URL, "azureml.git.dirty": "True",
                               "mlflow.source.git.commit": "*"},
    "branch_shadowed_by_tag": {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": "heads/main",
                               "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"},
    **{name: {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": branch,
              "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"}
       for name, branch in (("branch_origin_main", "origin/main"), ("branch_origin", "origin"),
                            ("branch_upstream_dev", "upstream/dev"), ("branch_origin_head", "origin/HEAD"),
                            ("branch_shadowed_by_tag_and_remote", "heads/origin/main"))},
    "token_url": {"mlflow.source.git.repoURL": "https://ghp_secret123@github.com/org/app.git",
                  "mlflow.source.git.branch": "main", "mlflow.source.git.commit": "*", "azureml.git.dirty": "False"},
}


def _head(cwd: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("state", list(STATES))
def test_v2_and_v1_match_the_sdk_algorithm_and_hand_checked_values(state: str, tmp_path: Path) -> None:
    cwd, extra = STATES[state](tmp_path)
    v2 = git_info(cwd, "v2", extra)
    assert v2 == reference(cwd, extra, v1=False)
    expected = {k: (_head(cwd) if v == "*" else v) for k, v in EXPECTED_V2[state].items()}
    assert v2 == expected
    assert list(v2) == [k for k in ("mlflow.source.git.repoURL", "mlflow.source.git.branch",
                                    "mlflow.source.git.commit", "azureml.git.dirty", "azureml.git.build_id",
                                    "azureml.git.build_uri") if k in v2]  # the SDK's key order
    v1 = git_info(cwd, "v1", extra)
    assert v1 == reference(cwd, extra, v1=True)
    everything = git_info(cwd, "all", extra)
    assert everything == {k: v for k, v in v1.items() if not k.startswith("azureml.git.build")}
    assert len(everything) <= 7


HAVE_SDK = importlib.util.find_spec("azure") is not None and importlib.util.find_spec("azure.ai.ml") is not None


@pytest.mark.skipif(not HAVE_SDK and os.environ.get("ONBOARD_REQUIRE_SDK") != "1",
                    reason="azure-ai-ml is not installed (pip install '.[sdk]'; CI installs it)")
def test_v2_equals_the_real_azure_ai_ml_function(tmp_path: Path) -> None:
    cases, cwds = [], []
    for name, make in STATES.items():
        cwd, extra = make(tmp_path / name)
        cases.append({"cwd": str(cwd), "env": extra})
        cwds.append((cwd, extra))
    f = tmp_path / "cases.json"
    f.write_text(json.dumps(cases))
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "sdk_reference.py"), str(f)],
                         capture_output=True, text=True, check=True, timeout=300)
    sdk_results = json.loads(out.stdout)
    for (cwd, extra), sdk, name in zip(cwds, sdk_results, STATES, strict=True):
        assert git_info(cwd, "v2", extra) == sdk, name


def test_warnings_name_the_trap_and_the_fix(tmp_path: Path) -> None:
    cwd, _ = token_url(tmp_path)
    r = run_env("git-info", str(cwd))
    assert "drops ALL Git properties" in r.stderr and "git remote set-url origin git@" in r.stderr
    assert "ghp_secret123" not in r.stdout  # masked on the terminal ...
    assert "ghp_secret123" in run_env("git-info", str(cwd), "--json").stdout  # ... exact in --json
    cwd, _ = detached(tmp_path / "d")
    assert "AZUREML_GIT_BRANCH" in run_env("git-info", str(cwd)).stderr
    cwd, _ = untracked_only(tmp_path / "u")
    assert "untracked files: notes.txt" in run_env("git-info", str(cwd)).stderr
    cwd, _ = not_a_repo(tmp_path / "n")
    r = run_env("git-info", str(cwd))
    assert r.returncode == 0 and "not inside a Git work tree" in r.stderr


def test_json_is_the_mapping_alone(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    r = run_env("git-info", str(cwd), "--json", "--sdk", "v2")
    data = json.loads(r.stdout)
    assert set(data) == {"mlflow.source.git.repoURL", "mlflow.source.git.branch", "mlflow.source.git.commit",
                         "azureml.git.dirty"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another uid")
def test_dubious_ownership_warns_with_safe_directory_fix(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    for p in [cwd, *cwd.rglob("*")]:
        os.lchown(p, 4242, 4242)
    r = run_env("git-info", str(cwd), "--json", "--sdk", "v2")
    assert json.loads(r.stdout) == reference(cwd, {}, v1=False) == {}
    assert "dubious ownership" in r.stderr and "safe.directory" in r.stderr and str(cwd) in r.stderr


def test_git_missing(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    r = run_env("git-info", str(cwd), "--json", env={"PATH": str(tmp_path / "nothing-here")})
    assert r.returncode == 0 and json.loads(r.stdout) == {}
    assert "git is not installed" in r.stderr


def test_bad_path_is_exit_2(tmp_path: Path) -> None:
    r = run_env("git-info", str(tmp_path / "missing"))
    assert r.returncode == 2 and "not a directory" in r.stderr


def test_git_info_imports_nothing_heavy(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    code = ("import sys; from onboarding.cli import main; main(['git-info', sys.argv[1], '--json']);"
            "print([m for m in ('paramiko', 'questionary', 'cryptography', 'prompt_toolkit') if m in sys.modules],"
            " file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, str(cwd)], capture_output=True, text=True)
    assert r.stderr.strip().endswith("[]"), r.stderr


# -- a folder deleted while you are in it -------------------------------------------------
def _in_deleted_folder(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run onboard from `folder` after deleting it (the shell enters it, removes it, then starts us)."""
    script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
    return subprocess.run(["sh", "-c", script, "sh", str(folder), sys.executable, "-m", "onboarding", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)


@pytest.mark.parametrize("extra", [{}, {"AZUREML_GIT_BRANCH": "main", "AZUREML_GIT_DIRTY": "1"}])
def test_deleted_current_folder_is_what_the_sdk_says_and_warns(tmp_path: Path, extra: dict[str, str]) -> None:
    repo, _ = clean(tmp_path)
    folder = repo / "gone"
    folder.mkdir()
    r = _in_deleted_folder(folder, "git-info", "--sdk", "v2", "--json", env=extra)
    assert r.returncode == 0, r.stderr
    expected = {k: v for k, v in {"mlflow.source.git.branch": extra.get("AZUREML_GIT_BRANCH"),
                                  "azureml.git.dirty": "True" if extra else None}.items() if v}
    assert json.loads(r.stdout) == expected
    assert "was deleted" in r.stderr and "not inside a Git work tree" not in r.stderr
    human = _in_deleted_folder(_remade(folder), "git-info")
    assert human.returncode == 0 and "Traceback" not in human.stderr


def _remade(folder: Path) -> Path:
    folder.mkdir()
    return folder


@pytest.mark.skipif(not HAVE_SDK and os.environ.get("ONBOARD_REQUIRE_SDK") != "1",
                    reason="azure-ai-ml is not installed (pip install '.[sdk]'; CI installs it)")
def test_deleted_current_folder_equals_the_real_azure_ai_ml_function(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    cases = [{"cwd": str(repo / name), "env": extra, "delete_cwd": True}
             for name, extra in (("a", {}), ("b", {"AZUREML_GIT_COMMIT": "abc", "AZUREML_GIT_DIRTY": ""}))]
    for case in cases:
        Path(str(case["cwd"])).mkdir()
    f = tmp_path / "cases.json"
    f.write_text(json.dumps(cases))
    sdk = json.loads(subprocess.run([sys.executable, str(Path(__file__).parent / "sdk_reference.py"), str(f)],
                                    capture_output=True, text=True, check=True, timeout=300).stdout)
    for case, expected in zip(cases, sdk, strict=True):
        folder = _remade(Path(str(case["cwd"])))
        r = _in_deleted_folder(folder, "git-info", "--sdk", "v2", "--json", env=dict(case["env"]))  # type: ignore[arg-type]
        assert json.loads(r.stdout) == expected


# -- no repository code where the SDK runs none ---------------------------------------------
def _fsmonitor(repo: Path, marker: Path, body: str = "") -> None:
    """core.fsmonitor: repository code that `git status` runs; it leaves `marker` behind."""
    hook = repo.parent / f"{repo.name}-fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\n{body}exit 1\n")
    hook.chmod(0o755)
    git("config", "core.fsmonitor", str(hook), cwd=repo)


def test_no_repository_code_runs_where_the_sdk_runs_none(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    marker = tmp_path / "fsmonitor-ran"
    _fsmonitor(repo, marker)
    outside = tmp_path / "outside"
    outside.mkdir()
    env = {"GIT_DIR": str(repo / ".git"), "GIT_WORK_TREE": str(repo)}
    r = onboard("git-info", "--sdk", "v2", "--json", env=env, cwd=outside)
    assert r.returncode == 0 and json.loads(r.stdout) == reference(outside, env, v1=False) == {}
    assert not marker.exists()  # the SDK stops at `rev-parse --is-inside-work-tree` = false ...
    subprocess.run(["git", "status", "--porcelain", "."], cwd=outside, env={**os.environ, **env},
                   capture_output=True, timeout=60)
    assert marker.exists()  # ... while `git status` there would have run the fsmonitor


def test_where_the_sdk_runs_status_the_fsmonitor_runs_too(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    marker = tmp_path / "fsmonitor-ran"
    _fsmonitor(repo, marker)
    assert git_info(repo, "v2", {}) == reference(repo, {}, v1=False)
    assert marker.exists()  # parity: docs/security.md says so


# -- one total deadline ----------------------------------------------------------------------
@pytest.mark.parametrize("holder", ["sleep 600 &", "setsid sleep 600 &"])  # in git's group / escaped from it
def test_the_timeout_bounds_the_wait_when_a_hook_holds_stderr(tmp_path: Path, holder: str) -> None:
    repo, _ = clean(tmp_path)
    pids = tmp_path / "pids"
    # The fsmonitor starts a grandchild that inherits git's stderr, then hangs itself.
    _fsmonitor(repo, tmp_path / "ran", body=f"{holder}\necho $! >> '{pids}'\nsleep 600\n")
    r = onboard("git-info", str(repo), "--sdk", "v2", "--json", "--timeout", "1", timeout=60)  # hangs -> fails here
    assert r.returncode == 0, r.stderr
    assert "did not finish within 1s" in r.stderr
    data = json.loads(r.stdout)
    assert "azureml.git.dirty" not in data and data["mlflow.source.git.branch"] == "main"
    grandchild = int(pids.read_text().split()[0])
    if not holder.startswith("setsid"):
        assert not _alive(grandchild)  # the whole group was killed at the deadline
    else:
        os.kill(grandchild, 9)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_timeout_must_be_positive(tmp_path: Path) -> None:
    r = run_env("git-info", str(tmp_path), "--timeout", "0")
    assert r.returncode == 2 and "--timeout" in r.stderr


# -- stderr findings -------------------------------------------------------------------------
def test_an_ssh_user_is_not_a_credential(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git("remote", "add", "origin", "ssh://git@github.com/org/app.git", cwd=repo)
    assert "user name or token" not in run_env("git-info", str(repo)).stderr
    git("remote", "set-url", "origin", "https://dev.azure.com/pat123@org/p/_git/r", cwd=repo)  # has_pat_token: 2nd form
    assert "drops ALL Git properties" in run_env("git-info", str(repo)).stderr


def test_a_branch_name_that_is_not_utf8_is_not_called_detached(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    subprocess.run([b"git", b"checkout", b"-q", b"-b", b"caf\xe9"], cwd=repo, check=True)
    assert git_info(repo, "v2", {}) == reference(repo, {}, v1=False)
    assert "mlflow.source.git.branch" not in git_info(repo, "v2", {})
    r = run_env("git-info", str(repo))
    assert "not valid UTF-8" in r.stderr and "detached" not in r.stderr


def _locale(name: str) -> str:
    have = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower().replace("-", "").split()
    if name.lower().replace("-", "") not in have:
        if os.environ.get("ONBOARD_REQUIRE_LOCALES") == "1":
            pytest.fail(f"locale {name} is missing (.ci/run generates it)")
        pytest.skip(f"locale {name} is not installed (localedef -i de_DE -f ... {name})")
    return name


def test_a_latin1_terminal_shows_a_japanese_branch(tmp_path: Path) -> None:
    loc = _locale("de_DE.ISO-8859-1")
    repo, _ = clean(tmp_path)
    git("checkout", "-q", "-b", "feature/日本", cwd=repo)
    r = subprocess.run([sys.executable, "-m", "onboarding", "git-info", str(repo)], capture_output=True,
                       env={**os.environ, "LC_ALL": loc, "LANG": loc, "PYTHONIOENCODING": ""}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert b"feature/\\u65e5\\u672c" in r.stdout
    j = subprocess.run([sys.executable, "-m", "onboarding", "git-info", str(repo), "--json"], capture_output=True,
                       env={**os.environ, "LC_ALL": loc, "LANG": loc}, timeout=120)
    assert json.loads(j.stdout)["mlflow.source.git.branch"] == "feature/日本"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another uid")
def test_dubious_ownership_is_found_in_a_german_locale(tmp_path: Path) -> None:
    loc = _locale("de_DE.UTF-8")
    cwd, _ = clean(tmp_path)
    for p in [cwd, *cwd.rglob("*")]:
        os.lchown(p, 4242, 4242)
    german = {"LANG": loc, "LC_ALL": loc, "LANGUAGE": "de"}
    said = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **german})
    assert "dubious ownership" not in said.stderr  # git itself speaks German here ...
    r = run_env("git-info", str(cwd), env=german)
    assert "dubious ownership" in r.stderr and "not inside a Git work tree" not in r.stderr  # ... we still understand
    assert "only if you trust" in r.stderr


# -- in-process: gitinfo.gather / properties / warnings --------------------------------------
# git's own commands, as the log of a `git` first on PATH spells them
TOP = "rev-parse --is-inside-work-tree HEAD --symbolic-full-name HEAD --abbrev-ref HEAD"
REMOTE, STATUS = "ls-remote --get-url", "status --porcelain ."
SYMREF, REVPARSE = "symbolic-ref --short HEAD", "rev-parse HEAD"  # the SDK's own, for the odd cases
W = gitinfo.Warning_
DETACHED = W("detached-head", "HEAD is detached: no branch will be recorded",
             "check out a branch, or set AZUREML_GIT_BRANCH=<name> before submitting")
NO_REMOTE = W("no-remote", "no remote configured: no repository URL will be recorded",
              "git remote add origin git@HOST:ORG/REPO.git")
TIMEOUT_FIX = "use a clone on local disk, or a longer --timeout"


def _not_a_repository(where: str) -> gitinfo.Warning_:
    return W("not-a-repository", f"{where} is not inside a Git work tree: nothing will be tracked",
             "submit from a clone (onboard clone URL), or set AZUREML_GIT_* variables")


def _logging_git(tmp: Path, body: str = "") -> tuple[dict[str, str], Path]:
    """An environment whose `git` (first on PATH) logs its arguments, runs `body` (sh), then the real git."""
    real = shutil.which("git")
    assert real
    bindir = tmp / "logging-git"
    bindir.mkdir()
    log = tmp / "git.log"
    script = bindir / "git"
    script.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> \'{log}\'\n{body}exec \'{real}\' "$@"\n')
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}, log


def _ran(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines()) if log.exists() else []


FOUR = {"AZUREML_GIT_REPOSITORY_URI": "git@example.test:o/r.git", "AZUREML_GIT_BRANCH": "b",
        "AZUREML_GIT_COMMIT": "c0ffee", "AZUREML_GIT_DIRTY": "0"}


@pytest.mark.parametrize(("state", "extra", "commands", "codes"), [
    ("clean", {}, [TOP, REMOTE, STATUS], []),  # a plain branch: three processes, not the SDK's five
    ("no_remote", {}, [TOP, REMOTE, STATUS], ["no-remote"]),
    ("branch_origin_main", {}, [TOP, REMOTE, STATUS, SYMREF, REVPARSE], []),  # `heads/origin/main`: ask as the SDK
    ("detached", {}, [TOP, REMOTE, STATUS, SYMREF, REVPARSE], ["detached-head"]),
    ("no_commits", {}, [TOP, REMOTE, STATUS, SYMREF, REVPARSE], []),  # unborn branch
    ("not_a_repo", {}, [TOP, REMOTE], ["not-a-repository"]),  # the gate: no status where the SDK runs none
    ("clean", FOUR, [TOP], []),  # every value overridden: git only answers "inside?"
    ("clean", {"AZUREML_GIT_DIRTY": "1"}, [TOP, REMOTE], []),  # no status when dirty is given
    ("detached", {"AZUREML_GIT_BRANCH": "release"}, [TOP, REMOTE, STATUS, REVPARSE], []),  # no detached warning
    ("branch_origin_main", {"AZUREML_GIT_COMMIT": "abc"}, [TOP, REMOTE, STATUS, SYMREF], []),
])
def test_gather_runs_only_the_commands_needed_and_says_what_the_sdk_would(
        state: str, extra: dict[str, str], commands: list[str], codes: list[str], tmp_path: Path) -> None:
    cwd, _ = STATES[state](tmp_path)
    env, log = _logging_git(tmp_path)
    raw = gitinfo.gather(cwd, {**env, **extra})
    assert _ran(log) == sorted(commands)
    assert gitinfo.properties(raw, "v2") == reference(cwd, extra, v1=False)
    assert gitinfo.properties(raw, "v1") == reference(cwd, extra, v1=True)
    assert raw.problems == []
    known = {"no-remote": NO_REMOTE, "detached-head": DETACHED, "not-a-repository": _not_a_repository(str(cwd))}
    assert gitinfo.warnings(raw, cwd) == [known[c] for c in codes]


@pytest.mark.parametrize(("dirty", "recorded"), [("1", "True"), (" TRUE\n", "True"), ("yes", "False"),
                                                 ("0", "False")])
def test_overrides_are_stripped_and_keyed_per_sdk_in_its_order(dirty: str, recorded: str, tmp_path: Path) -> None:
    cwd, _ = not_a_repo(tmp_path)
    env = {**os.environ, "AZUREML_GIT_REPOSITORY_URI": " https://example.test/r\n", "AZUREML_GIT_BRANCH": "\tfeat ",
           "AZUREML_GIT_COMMIT": "abc", "AZUREML_GIT_DIRTY": dirty, "AZUREML_GIT_BUILD_ID": " 42 ",
           "AZUREML_GIT_BUILD_URI": "https://ci.example.test/42"}
    raw = gitinfo.gather(cwd, env)
    v1 = [("azureml.git.repository_uri", "https://example.test/r"), ("mlflow.source.git.repoURL", "https://example.test/r"),
          ("azureml.git.branch", "feat"), ("mlflow.source.git.branch", "feat"), ("azureml.git.commit", "abc"),
          ("mlflow.source.git.commit", "abc"), ("azureml.git.dirty", recorded),
          ("azureml.git.build_id", "42"), ("azureml.git.build_uri", "https://ci.example.test/42")]
    assert list(gitinfo.properties(raw, "v1").items()) == v1
    assert list(gitinfo.properties(raw, "all").items()) == v1[:7]  # the documentation's seven, no build_*
    assert list(gitinfo.properties(raw, "v2").items()) == [kv for kv in v1 if not kv[0].startswith("azureml.git.")
                                                            or kv[0] in ("azureml.git.dirty", "azureml.git.build_id",
                                                                         "azureml.git.build_uri")]
    assert gitinfo.warnings(raw, cwd) == [_not_a_repository(str(cwd))]


def test_the_current_folder_is_where_git_runs_without_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd, _ = below_top_changes_elsewhere(tmp_path)
    monkeypatch.chdir(cwd)
    raw = gitinfo.gather(None)
    assert gitinfo.properties(raw, "v2") == reference(cwd, {}, v1=False)
    assert raw.problems == [] and gitinfo.warnings(raw, None) == []
    plain, _ = not_a_repo(tmp_path / "p")
    monkeypatch.chdir(plain)
    raw = gitinfo.gather(None)
    assert raw.problems == []  # an existing folder is not "deleted"
    assert gitinfo.warnings(raw, None) == [_not_a_repository("the current folder")]


def test_a_vanished_current_folder_warns_only_when_git_runs_there(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process (git is the only child): not deselected from mutation runs as the CLI's
    deleted-folder tests are, so the warning's own decisions are measured."""
    repo, _ = clean(tmp_path)
    plain, _ = not_a_repo(tmp_path)
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    try:
        here = gitinfo.gather(None, {**os.environ, "AZUREML_GIT_BRANCH": "main"})
        there = gitinfo.gather(repo)
        elsewhere = gitinfo.gather(plain)
    finally:
        os.chdir(tmp_path)
    assert here.problems == ["cwd-deleted"]
    assert gitinfo.properties(here, "v1") == {"azureml.git.branch": "main", "mlflow.source.git.branch": "main"}
    assert gitinfo.warnings(here, None) == [W(
        "cwd-deleted", "the current folder was deleted (or moved) while you were in it: git fails there and nothing "
        "is tracked", 'cd back into the project (cd "$PWD" if it was re-created)')]
    assert there.problems == [] and gitinfo.warnings(there, repo) == []
    assert gitinfo.properties(there, "v2") == reference(repo, {}, v1=False)
    assert elsewhere.problems == [] and gitinfo.warnings(elsewhere, plain) == [_not_a_repository(str(plain))]


@pytest.mark.parametrize("replaced_by_file", [False, True])
def test_a_folder_removed_while_git_runs_records_nothing_for_what_could_not_start(
        tmp_path: Path, replaced_by_file: bool) -> None:
    repo, _ = clean(tmp_path)
    (repo / "README.md").write_text("changed\n")  # dirty, had status run
    sub = repo / "sub"
    sub.mkdir()
    # the combined rev-parse answers, then the folder goes (or becomes a file): status cannot start there
    body = (f'if [ "$2" = --is-inside-work-tree ]; then "$REAL_GIT" "$@"; rc=$?; rmdir \'{sub}\'; '
            f'{"touch " + repr(str(sub)) + "; " if replaced_by_file else ""}exit $rc; fi\n')
    env, _ = _logging_git(tmp_path, body)
    env["REAL_GIT"] = str(shutil.which("git"))
    raw = gitinfo.gather(sub, env)
    props = gitinfo.properties(raw, "v2")
    assert "azureml.git.dirty" not in props  # not a guess of "False"
    assert props["mlflow.source.git.branch"] == "main" and props["mlflow.source.git.commit"] == _head(repo)
    if replaced_by_file:  # (a removed one: see the next test)
        assert raw.problems == []  # neither "git is missing" nor a timeout


def test_a_folder_that_is_gone_is_not_git_missing(tmp_path: Path) -> None:
    missing = tmp_path / "never-was"
    raw = gitinfo.gather(missing)
    assert raw.problems == [] and gitinfo.warnings(raw, missing) == [_not_a_repository(str(missing))]


def test_git_missing_is_the_only_warning(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    raw = gitinfo.gather(repo, {**os.environ, "PATH": str(tmp_path / "no-git-here"), "AZUREML_GIT_BRANCH": "x"})
    assert raw.problems == ["git-missing"]
    assert gitinfo.properties(raw, "v2") == {"mlflow.source.git.branch": "x"}
    assert gitinfo.warnings(raw, repo) == [W("git-missing", "git is not installed: nothing will be tracked",
                                             "install git (apt-get install git)")]


def test_one_deadline_kills_a_hung_status(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    _fsmonitor(repo, tmp_path / "ran", body="sleep 30\n")
    started = time.monotonic()
    raw = gitinfo.gather(repo, timeout=3)
    assert time.monotonic() - started < 20  # not the fsmonitor's 30 s
    assert raw.problems == ["timeout"]
    props = gitinfo.properties(raw, "v2")
    assert props == {"mlflow.source.git.repoURL": SSH_URL, "mlflow.source.git.branch": "main",
                     "mlflow.source.git.commit": _head(repo)}  # no dirty: status never answered
    assert gitinfo.warnings(raw, repo) == [
        W("timeout", "git did not finish within 3s (slow share?): the SDK would wait", TIMEOUT_FIX)]


def test_nothing_starts_after_the_deadline(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    marker = tmp_path / "fsmonitor-ran"
    _fsmonitor(repo, marker)
    env, log = _logging_git(tmp_path, 'case "$1" in ls-remote) sleep 30;; esac\n')  # stage one outlives the deadline
    raw = gitinfo.gather(repo, env, timeout=3)
    assert _ran(log) == sorted([TOP, REMOTE])
    assert not marker.exists()  # status (and its repository code) never started
    assert gitinfo.properties(raw, "v2") == {"mlflow.source.git.branch": "main", "mlflow.source.git.commit": _head(repo)}
    assert raw.problems == ["timeout"]
    assert [w.code for w in gitinfo.warnings(raw, repo)] == ["timeout"]  # a hung ls-remote is not "no remote"
    assert gitinfo.warnings(raw, repo)[0] == W(
        "timeout", "git did not finish within 3s (slow share?): the SDK would wait", TIMEOUT_FIX)
    log.unlink()
    raw = gitinfo.gather(repo, env, timeout=1e-9)  # already past: not one git process
    assert _ran(log) == [] and not raw.inside
    assert raw.problems == ["timeout"] and gitinfo.properties(raw, "v1") == {}
    assert [w.code for w in gitinfo.warnings(raw, repo)] == ["timeout"]  # not also "not a repository"


def _assume_other_owner() -> dict[str, str]:
    """git's own test switch: every repository looks owned by someone else (git >= 2.35.2), no root needed."""
    return {**os.environ, "GIT_TEST_ASSUME_DIFFERENT_OWNER": "1"}


@pytest.mark.parametrize("loc", [None, "de_DE.UTF-8"])
def test_dubious_ownership_names_the_repository_git_refused(tmp_path: Path, loc: str | None) -> None:
    repo, _ = clean(tmp_path)
    sub = repo / "sub"
    sub.mkdir()
    env = _assume_other_owner()
    if loc:
        env.update(LANG=_locale(loc), LC_ALL=loc, LANGUAGE="de")  # git would answer in German
    raw = gitinfo.gather(sub, env)
    assert raw.problems == ["dubious-ownership"] and not raw.inside
    assert gitinfo.properties(raw, "v1") == {}
    top = os.path.realpath(repo)  # git names the work tree's top, not the folder asked about
    assert gitinfo.warnings(raw, sub) == [W(
        "dubious-ownership",
        f"git refuses {top}: it is owned by another user ('dubious ownership'), so every git call the SDK makes "
        "fails silently and nothing is tracked",
        f"only if you trust that user: git config --global --add safe.directory '{top}' (their repository config"
        " — hooks, fsmonitor, filters — then runs as you); otherwise work in your own clone")]


def test_dubious_ownership_without_a_path_in_the_message_names_the_folder(tmp_path: Path) -> None:
    raw = gitinfo.Raw(dict.fromkeys(gitinfo.ENV), inside=False, top_stderr="fatal: dubious ownership\n")
    raw.problems.append("dubious-ownership")
    (w,) = gitinfo.warnings(raw, tmp_path)
    assert w.message.startswith(f"git refuses {tmp_path}: ") and f"safe.directory '{tmp_path}' " in w.fix


def test_dubious_ownership_names_a_path_with_an_apostrophe_whole(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "it's")
    raw = gitinfo.gather(repo, _assume_other_owner())
    (w,) = gitinfo.warnings(raw, repo)
    assert w.message.startswith(f"git refuses {os.path.realpath(repo)}: ")
    quoted = w.fix.split("safe.directory ", 1)[1].split(" (their", 1)[0]
    assert subprocess.run(["sh", "-c", f"printf %s {quoted}"], capture_output=True, text=True,
                          check=True).stdout == os.path.realpath(repo)  # pasted into a shell, it is that path


def test_a_git_message_that_is_not_utf8_does_not_break_gather(tmp_path: Path) -> None:
    cwd, _ = not_a_repo(tmp_path)
    (cwd / ".git").write_bytes(b"gitdir: /nowhere/caf\xe9\n")  # git's error names that path, byte for byte
    raw = gitinfo.gather(cwd)
    assert not raw.inside and raw.problems == []
    assert gitinfo.warnings(raw, cwd) == [_not_a_repository(str(cwd))]


def test_a_non_utf8_branch_warns_exactly(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    subprocess.run([b"git", b"checkout", b"-q", b"-b", b"caf\xe9"], cwd=repo, check=True)
    raw = gitinfo.gather(repo)
    assert raw.problems == ["branch-not-utf8"]
    assert gitinfo.warnings(raw, repo) == [W("branch-not-utf8", "the branch name is not valid UTF-8: the SDK records "
                                             "no branch", "rename the branch: git branch -m <utf-8-name>")]


def test_credentials_in_the_url_warn_with_what_each_sdk_does(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    drops = "azure-ai-ml >= 1.27 then drops ALL Git properties from the job"
    records = "azure-ai-ml does not detect it here and records it"
    for url, effect in (("https://ghp_secret123@github.com/org/app.git", drops),
                        ("https://dev.azure.com/pat123@org/p/_git/r", drops),  # has_pat_token's second form
                        ("http://deploy@git.example.test/org/app.git", records),  # http: not has_pat_token
                        ("ssh://git:hunter2@git.example.test/org/app.git", records),  # a password
                        ("ssh://git@github.com/org/app.git", None), (SSH_URL, None),
                        ("https://github.com/org/app.git", None)):
        raw = gitinfo.gather(repo, {**os.environ, "AZUREML_GIT_REPOSITORY_URI": url})
        assert gitinfo.properties(raw, "v2")["mlflow.source.git.repoURL"] == url
        expected = [] if effect is None else [W(
            "credentials-in-url", f"the remote URL carries a user name or token ({effect}; azureml-core stores it in "
            "the job)", "switch the remote to SSH: git remote set-url origin git@HOST:ORG/REPO.git")]
        assert gitinfo.warnings(raw, repo) == expected, url


def test_the_terminal_masks_secrets_but_not_the_ssh_login(tmp_path: Path) -> None:
    repo, _ = clean(tmp_path)
    for url, shown in (("ssh://git:hunter2@git.example.test/o/r.git", "ssh://***@git.example.test/o/r.git"),
                       ("http://deploy@git.example.test/o/r.git", "http://***@git.example.test/o/r.git"),
                       ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git")):
        r = run_env("git-info", str(repo), env={"AZUREML_GIT_REPOSITORY_URI": url})
        assert r.returncode == 0 and shown in r.stdout and ("hunter2" not in r.stdout), url
        assert url in run_env("git-info", str(repo), "--json", env={"AZUREML_GIT_REPOSITORY_URI": url}).stdout


@pytest.mark.parametrize(("count", "listed"), [
    (1, "f1.txt"), (3, "f1.txt, f2.txt, f3.txt"), (4, "f1.txt, f2.txt, f3.txt and 1 more"),
    (5, "f1.txt, f2.txt, f3.txt and 2 more")])
def test_untracked_only_lists_three_files_and_counts_the_rest(tmp_path: Path, count: int, listed: str) -> None:
    repo, _ = clean(tmp_path)
    for i in range(1, count + 1):
        (repo / f"f{i}.txt").write_text("x\n")
    raw = gitinfo.gather(repo)
    assert gitinfo.properties(raw, "v2")["azureml.git.dirty"] == "True"
    assert gitinfo.warnings(raw, repo) == [W("untracked-only", f"dirty only because of untracked files: {listed}",
                                             "commit them, or add them to .gitignore")]
    (repo / "README.md").write_text("changed\n")  # a real change too: no longer "only untracked"
    assert gitinfo.warnings(gitinfo.gather(repo), repo) == []
