"""git-info: exact Azure ML Git properties for every repository state, checked three ways:
against the real azure-ai-ml function (when installed; CI installs it), against a
transcription of the SDKs' five sequential commands, and against hand-written values."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git, make_repo, onboard

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
    r = onboard("git-info", str(cwd), "--sdk", sdk, "--json", env=extra)
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


STATES: dict[str, Callable[[Path], tuple[Path, dict[str, str]]]] = {
    f.__name__: f for f in (clean, modified, untracked_only, detached, no_commits, no_remote, not_a_repo,
                            inside_git_dir, below_top_changes_elsewhere, upstream_remote, insteadof, overrides,
                            overrides_outside, empty_overrides, empty_overrides_inside, branch_shadowed_by_tag,
                            token_url)
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
    r = onboard("git-info", str(cwd))
    assert "drops ALL Git properties" in r.stderr and "git remote set-url origin git@" in r.stderr
    assert "ghp_secret123" not in r.stdout  # masked on the terminal ...
    assert "ghp_secret123" in onboard("git-info", str(cwd), "--json").stdout  # ... exact in --json
    cwd, _ = detached(tmp_path / "d")
    assert "AZUREML_GIT_BRANCH" in onboard("git-info", str(cwd)).stderr
    cwd, _ = untracked_only(tmp_path / "u")
    assert "untracked files: notes.txt" in onboard("git-info", str(cwd)).stderr
    cwd, _ = not_a_repo(tmp_path / "n")
    r = onboard("git-info", str(cwd))
    assert r.returncode == 0 and "not inside a Git work tree" in r.stderr


def test_json_is_the_mapping_alone(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    r = onboard("git-info", str(cwd), "--json", "--sdk", "v2")
    data = json.loads(r.stdout)
    assert set(data) == {"mlflow.source.git.repoURL", "mlflow.source.git.branch", "mlflow.source.git.commit",
                         "azureml.git.dirty"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another uid")
def test_dubious_ownership_warns_with_safe_directory_fix(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    for p in [cwd, *cwd.rglob("*")]:
        os.lchown(p, 4242, 4242)
    r = onboard("git-info", str(cwd), "--json", "--sdk", "v2")
    assert json.loads(r.stdout) == reference(cwd, {}, v1=False) == {}
    assert "dubious ownership" in r.stderr and "safe.directory" in r.stderr and str(cwd) in r.stderr


def test_git_missing(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    r = onboard("git-info", str(cwd), "--json", env={"PATH": str(tmp_path / "nothing-here")})
    assert r.returncode == 0 and json.loads(r.stdout) == {}
    assert "git is not installed" in r.stderr


def test_bad_path_is_exit_2(tmp_path: Path) -> None:
    r = onboard("git-info", str(tmp_path / "missing"))
    assert r.returncode == 2 and "not a directory" in r.stderr


def test_git_info_imports_nothing_heavy(tmp_path: Path) -> None:
    cwd, _ = clean(tmp_path)
    code = ("import sys; from onboarding.cli import main; main(['git-info', sys.argv[1], '--json']);"
            "print([m for m in ('paramiko', 'questionary', 'cryptography', 'prompt_toolkit') if m in sys.modules],"
            " file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, str(cwd)], capture_output=True, text=True)
    assert r.stderr.strip().endswith("[]"), r.stderr
