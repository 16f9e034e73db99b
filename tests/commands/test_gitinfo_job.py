"""git-info --job: from a job's recorded Git properties back to its code, each verdict with its fix."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.gitrepo import git, make_bare, make_repo
from helpers.run import onboard

from onboarding import gitjob

URL = "git@github.com:org/app.git"
DIFFERS = 8


def _repo(tmp: Path) -> Path:
    repo = make_repo(tmp / "repo", {"train.py": "print(1)\n"})
    git("remote", "add", "origin", URL, cwd=repo)
    return repo


def _head(repo: Path) -> str:
    return git("rev-parse", "HEAD", cwd=repo).strip()


def _recorded(repo: Path, sdk: str = "v2") -> dict[str, str]:
    """What a job submitted from `repo` carries: git-info's own answer (the SDK's, by its tests)."""
    r = onboard("git-info", str(repo), "--sdk", sdk, "--json")
    return dict(json.loads(r.stdout))


def _job_file(tmp: Path, data: object) -> Path:
    f = tmp / "job.json"
    f.write_text(json.dumps(data))
    return f


def _shapes(props: dict[str, str]) -> dict[str, object]:
    return {
        "az ml job show": {"name": "job-1", "type": "command", "properties": {"azureml.runsource": "x", **props},
                           "tags": {}},
        "properties object": props,
        "mlflow REST run": {"run": {"info": {"run_id": "r"}, "data": {"tags": [{"key": k, "value": v}
                                                                             for k, v in props.items()]}}},
        "mlflow run.to_dictionary()": {"info": {}, "data": {"params": {}, "tags": props}},
    }


@pytest.mark.parametrize("sdk", ["v2", "v1"])
@pytest.mark.parametrize("shape", list(_shapes({})))
def test_a_job_from_here_matches_in_every_shape(tmp_path: Path, shape: str, sdk: str) -> None:
    repo = _repo(tmp_path)
    job = _job_file(tmp_path, _shapes(_recorded(repo, sdk))[shape])
    r = onboard("git-info", str(repo), "--job", str(job))
    assert r.returncode == 0, r.output
    assert "same repository: remote origin" in r.stdout and "HEAD is the job's commit" in r.stdout
    assert ("azureml-core (v1" if sdk == "v1" else "azure-ai-ml (v2") in r.stdout
    doc = json.loads(onboard("git-info", str(repo), "--job", str(job), "--json").stdout)
    assert doc["matches"] is True and doc["job"]["commit"] == _head(repo) and doc["local"]["remote"] == "origin"
    assert {c["name"] for c in doc["checks"]} == {"repository", "commit", "head", "dirty", "keys"}


def test_urls_compare_across_forms_and_credentials_stay_hidden(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    props = {**_recorded(repo), "mlflow.source.git.repoURL": "https://ghp_secret@github.com/org/app"}
    r = onboard("git-info", str(repo), "--job", str(_job_file(tmp_path, props)))
    assert r.returncode == 0 and "ghp_secret" not in r.stdout


def test_another_repository_differs(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    props = {**_recorded(repo), "mlflow.source.git.repoURL": "git@github.com:org/other.git"}
    r = onboard("git-info", str(repo), "--job", str(_job_file(tmp_path, props)))
    assert r.returncode == DIFFERS
    assert "this one has no remote with that URL" in r.stdout and "onboard clone github.com/org/other" not in r.stdout
    assert "onboard clone git@github.com:org/other.git" in r.stdout


def test_head_elsewhere_says_how_far(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    job = _job_file(tmp_path, _recorded(repo))
    for i in range(2):
        (repo / f"n{i}").write_text("x\n")
        git("add", ".", cwd=repo)
        git("commit", "-q", "-m", f"n{i}", cwd=repo)
    r = onboard("git-info", str(repo), "--job", str(job))
    assert r.returncode == DIFFERS and "HEAD is 2 commit(s) ahead of and 0 behind" in r.stdout
    assert "git switch --detach" in r.stdout


def test_a_dirty_job_cannot_be_reproduced_from_git(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "train.py").write_text("print(2)\n")
    job = _job_file(tmp_path, {"properties": _recorded(repo)})
    git("checkout", "--", "train.py", cwd=repo)
    r = onboard("git-info", str(repo), "--job", str(job))
    assert r.returncode == DIFFERS and "cannot be reproduced from git alone" in r.stdout


def test_v1_keys_that_disagree_are_reported(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    props = {**_recorded(repo, "v1"), "azureml.git.branch": "release"}
    r = onboard("git-info", str(repo), "--job", str(_job_file(tmp_path, props)))
    assert r.returncode == DIFFERS and "azureml.git.branch disagree" in r.stdout


def _origin_ahead(tmp: Path) -> tuple[Path, Path, str]:
    """A clone whose remote has a commit it has not fetched yet; that commit is the job's."""
    bare = make_bare(tmp / "origin.git", {"train.py": "print(1)\n"})
    local = tmp / "local"
    subprocess.run(["git", "clone", "-q", str(bare), str(local)], check=True)
    other = tmp / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    (other / "train.py").write_text("print(3)\n")
    git("commit", "-qam", "later", cwd=other)
    git("push", "-q", "origin", "HEAD", cwd=other)
    return local, bare, _head(other)


def test_a_missing_commit_says_how_to_fetch_and_checkout_fetches_it(tmp_path: Path) -> None:
    local, bare, commit = _origin_ahead(tmp_path)
    job = _job_file(tmp_path, {"mlflow.source.git.repoURL": str(bare), "mlflow.source.git.commit": commit,
                               "azureml.git.dirty": "False"})
    r = onboard("git-info", str(local), "--job", str(job))
    assert r.returncode == DIFFERS and f"git fetch origin {commit}" in r.stdout
    dest = tmp_path / "at-job"
    r = onboard("git-info", str(local), "--job", str(job), "--checkout", str(dest))
    assert r.returncode == DIFFERS, r.output  # the comparison was made before the fetch
    assert _head(dest) == commit and (dest / "train.py").read_text() == "print(3)\n"
    assert _head(local) != commit  # the user's own checkout is untouched


def test_checkout_refuses_an_existing_directory(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    dest = tmp_path / "exists"
    dest.mkdir()
    r = onboard("git-info", str(repo), "--job", str(_job_file(tmp_path, _recorded(repo))), "--checkout", str(dest))
    assert r.returncode == 5 and "already exists" in r.stderr and list(dest.iterdir()) == []


def test_checkout_without_job_is_a_usage_error(tmp_path: Path) -> None:
    assert onboard("git-info", str(tmp_path), "--checkout", str(tmp_path / "x")).returncode == 2


@pytest.mark.parametrize(("content", "said"), [("{not json", "not JSON"), ('{"name": "job"}', "no Git properties"),
                                               ('{"mlflow.source.git.commit": "--upload-pack=x"}', "not a commit")])
def test_bad_job_files_are_exit_2(tmp_path: Path, content: str, said: str) -> None:
    repo = _repo(tmp_path)
    f = tmp_path / "job.json"
    f.write_text(content)
    r = onboard("git-info", str(repo), "--job", str(f))
    assert r.returncode == 2 and said in r.stderr


def test_outside_a_repository_is_exit_2(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    r = onboard("git-info", str(plain), "--job", str(_job_file(tmp_path, _recorded(repo))))
    assert r.returncode == 2 and "not inside a Git work tree" in r.stderr


def test_job_from_stdin(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    r = onboard("git-info", str(repo), "--job", "-", input=json.dumps(_recorded(repo)))
    assert r.returncode == 0, r.output


def test_read_job_prefers_mlflow_keys_and_strips() -> None:
    job = gitjob.read_job(json.dumps({"properties": {"azureml.git.commit": " abc1 ", "mlflow.source.git.commit": "abc1",
                                                     "azureml.git.dirty": "TRUE"}}))
    assert job.commit == "abc1" and job.dirty is True and job.family == "v1" and job.conflicts == ()


@pytest.mark.parametrize("url", ["https://user:ghp_secretJob1@github.com/org/app",
                                 "ssh://git:pw-secretJob1@github.com/org/app.git"])
def test_the_job_result_masks_credentials_in_json_too(tmp_path: Path, url: str) -> None:
    """`--job --json` printed `https://user:ghp_…@…` that the text masked (issue 22)."""
    repo = _repo(tmp_path)
    props = {**_recorded(repo), "mlflow.source.git.repoURL": url}
    job = str(_job_file(tmp_path, props))
    r = onboard("git-info", str(repo), "--job", job, "--json")
    assert r.returncode == 0, r.output
    assert "secretJob1" not in r.output
    assert json.loads(r.stdout)["job"]["url"].split("://")[1].startswith("***@")
    human = onboard("git-info", str(repo), "--job", job)
    assert human.returncode == 0 and "secretJob1" not in human.output


def test_plain_git_info_json_keeps_the_exact_properties(tmp_path: Path) -> None:
    """The property mapping is the contract: what the SDK would record, token included."""
    repo = _repo(tmp_path)
    git("remote", "set-url", "origin", "https://user:ghp_exactValue@github.com/org/app", cwd=repo)
    props = _recorded(repo)
    assert props["mlflow.source.git.repoURL"] == "https://user:ghp_exactValue@github.com/org/app"


@pytest.mark.parametrize(("text", "said"), [
    ("[" * 100_000 + "]" * 100_000, "--job: not JSON"),
    (json.dumps({"run": {"data": {"tags": [{"key": ["azureml.git.commit"], "value": "abc"}]}}}),
     "carries no Git properties"),
])
def test_a_hostile_job_file_is_exit_2_not_a_crash(tmp_path: Path, text: str, said: str) -> None:
    """Nested past the parser's depth (RecursionError), a tag whose key is a list (unhashable): exit 1
    with a traceback before (issue 22)."""
    job = tmp_path / "job.json"
    job.write_text(text)
    r = onboard("git-info", str(tmp_path), "--job", str(job), "--json")
    assert r.returncode == 2, r.output
    assert said in json.loads(r.stdout)["error"]["message"]
