"""repourl.normalize: one string per repository, whatever the spelling."""

from __future__ import annotations

import pytest

from onboarding import repourl
from onboarding.repourl import normalize

SAME = [  # each group: spellings of one repository
    ("github.com/org/app", [
        "git@github.com:org/app.git", "git@github.com:org/app", "github.com:org/app.git/",
        "ssh://git@github.com/org/app.git", "ssh://git@GitHub.COM:22/org/app", "git+ssh://git@github.com/org/app",
        "https://github.com/org/app.git", "https://github.com:443/org/app/", "http://github.com:80/org/app",
        "https://ghp_token@github.com/org/app.git", "https://user:secret@github.com/org/app",
        "git://github.com/org/app.git", "  git@github.com:org/app.git\n",
    ]),
    ("dev.azure.com/org/proj/_git/repo", [
        "git@ssh.dev.azure.com:v3/org/proj/repo", "ssh://git@ssh.dev.azure.com/v3/org/proj/repo",
        "https://org@dev.azure.com/org/proj/_git/repo", "https://dev.azure.com/org/proj/_git/repo",
        "https://org.visualstudio.com/proj/_git/repo", "https://org.visualstudio.com/DefaultCollection/proj/_git/repo",
        "org@vs-ssh.visualstudio.com:v3/org/proj/repo",
    ]),
    ("[::1]:2222/srv/repo", ["ssh://git@[::1]:2222/srv/repo.git", "ssh://[::1]:2222/srv/repo/"]),
    ("host.example/srv/repo", ["host.example:/srv/repo.git", "ssh://host.example/srv/repo"]),
]
DIFFERENT = [
    ("git@github.com:org/app.git", "git@github.com:org/App.git"),  # paths keep their case
    ("git@github.com:org/app.git", "git@gitlab.com:org/app.git"),
    ("ssh://git@host.example:2222/org/app", "ssh://git@host.example/org/app"),  # another port, maybe another server
    ("git@github.com:org/app.git", "git@github.com:org/app2.git"),
    ("/srv/repo.git", "host.example:/srv/repo.git"),  # a local path is not a host
]


@pytest.mark.parametrize(("normal", "spellings"), SAME)
def test_spellings_of_one_repository_are_equal(normal: str, spellings: list[str]) -> None:
    assert {s: normalize(s) for s in spellings} == {s: normal for s in spellings}


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_repositories_stay_different(a: str, b: str) -> None:
    assert normalize(a) != normalize(b)


def test_credentials_never_survive() -> None:
    for url in ("https://user:hunter2@host.example/r.git", "ssh://me:hunter2@host.example/r",
                "https://hunter2@host.example/r"):
        assert "hunter2" not in normalize(url) and normalize(url) == "host.example/r"


def test_local_paths_compare_as_written() -> None:
    assert normalize("./a:b/repo.git/") == "./a:b/repo"
    assert normalize("file:///srv/repo.git") == "file:///srv/repo"
    assert normalize("C:/repos/app.git") == "C:/repos/app"


@pytest.mark.parametrize(("url", "shown"), [
    ("https://ghp_tok@github.com/o/r", "https://***@github.com/o/r"),
    ("https://user:pw@host.invalid/o/r", "https://***@host.invalid/o/r"),
    ("ssh://me:pw@host.invalid/o/r", "ssh://***@host.invalid/o/r"),
    ("ssh://git@github.com/o/r", "ssh://git@github.com/o/r"),
    ("git@github.com:o/r.git", "git@github.com:o/r.git"),
])
def test_mask_hides_credentials_and_keeps_ssh_logins(url: str, shown: str) -> None:
    assert repourl.mask(url) == shown
