"""keys list and keys prune against the fake key APIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.fake_apis import EMAIL, GOOD, FakeApis
from helpers.run import onboard

OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "B" * 22


@pytest.fixture
def key(home: Path) -> str:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    return (home / ".ssh" / "id_ed25519.pub").read_text()


def keys(apis: FakeApis, action: str, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return onboard("keys", action, *args, "--key-type", "ed25519", "--timeout", "5",
                   "--github-api", apis.url("github"), "--gitlab-url", apis.url("gitlab"),
                   "--bitbucket-api", apis.url("bitbucket"),
                   env={"GH_TOKEN": GOOD, "BITBUCKET_TOKEN": GOOD, "BITBUCKET_EMAIL": EMAIL, **(env or {})})


def seed(apis: FakeApis, site: str, key: str) -> None:
    apis.add(site, key, "onboard: me@this-box 2025-01-01", days_old=3)
    apis.add(site, OTHER + "1", "onboard: me@deleted-ci (ci-old) 2024-01-01", days_old=400)
    apis.add(site, OTHER + "2", "onboard: me@other-ci 2025-03-01", days_old=10)
    apis.add(site, OTHER + "3", "my laptop", days_old=900)


def test_list_marks_the_local_key_and_onboards_keys(apis: FakeApis, key: str) -> None:
    for site in ("github", "bitbucket"):
        seed(apis, site, key)
    r = keys(apis, "list", "--json")  # default: the providers with a token (github, bitbucket)
    assert r.returncode == 0, r.output
    listed = json.loads(r.stdout)["keys"]
    assert {k["provider"] for k in listed} == {"github", "bitbucket"}
    for site in ("github", "bitbucket"):
        mine = [k for k in listed if k["provider"] == site]
        assert [k["current"] for k in mine] == [True, False, False, False]
        assert [k["onboard"] for k in mine] == [True, True, True, False]
        assert [k["age_days"] for k in mine] == [3, 400, 10, 900]
    human = keys(apis, "list")
    assert "this key" in human.stdout and "my laptop" in human.stdout and GOOD not in human.output


def test_prune_dry_run_lists_and_removes_nothing(apis: FakeApis, key: str) -> None:
    seed(apis, "github", key)
    r = keys(apis, "prune", "github", "--older-than", "30", "--dry-run", "--json")
    assert r.returncode == 0, r.output
    assert [k["title"] for k in json.loads(r.stdout)["would_remove"]] == ["onboard: me@deleted-ci (ci-old) 2024-01-01"]
    assert len(apis.keys["github"]) == 4 and apis.deletes == 0
    human = keys(apis, "prune", "github", "--older-than", "30", "--dry-run")
    assert "onboard: me@deleted-ci (ci-old) 2024-01-01" in human.stdout  # the list is the result: stdout
    assert "me@deleted-ci" not in human.stderr


def test_unattended_prune_deletes_only_with_confirm_delete(apis: FakeApis, key: str) -> None:
    seed(apis, "github", key)
    r = keys(apis, "prune", "github", "--older-than", "5", "-y")
    assert r.returncode == 0 and "--confirm-delete" in r.stderr, r.output
    assert apis.deletes == 0
    r = keys(apis, "prune", "github", "--older-than", "5", "-y", "--confirm-delete", "--json")
    assert r.returncode == 0, r.output
    assert sorted(apis.titles("github")) == ["my laptop", "onboard: me@this-box 2025-01-01"]
    assert len(json.loads(r.stdout)["removed"]) == 2


def test_prune_never_removes_the_current_key_even_when_old(apis: FakeApis, key: str) -> None:
    apis.add("github", key, "onboard: me@this-box 2020-01-01", days_old=2000)
    r = keys(apis, "prune", "github", "--older-than", "0", "-y", "--confirm-delete")
    assert r.returncode == 0, r.output
    assert len(apis.keys["github"]) == 1 and apis.deletes == 0


def test_prune_needs_older_than(apis: FakeApis, key: str) -> None:
    r = keys(apis, "prune", "github", "-y")
    assert r.returncode == 2 and "--older-than" in r.stderr


def test_prune_that_fails_halfway_is_exit_7_and_says_what_is_left(apis: FakeApis, key: str) -> None:
    seed(apis, "gitlab", key)
    apis.fail["gitlab:delete"] = 500  # the first delete fails, the second goes through
    r = keys(apis, "prune", "gitlab", "--older-than", "5", "-y", "--confirm-delete", env={"GITLAB_TOKEN": GOOD})
    assert r.returncode == 7, r.output
    assert "NOT removed" in r.stderr and "1 of 2 keys were not removed" in r.stderr
    assert len(apis.keys["gitlab"]) == 3


def _prune_default_type(apis: FakeApis, *args: str):  # type: ignore[no-untyped-def]
    """keys prune without --key-type: the default names ~/.ssh/id_rsa, which this account lacks."""
    return onboard("keys", "prune", "github", "--older-than", "0", "-y", "--confirm-delete", "--timeout", "5",
                   "--github-api", apis.url("github"), *args, env={"GH_TOKEN": GOOD})


def test_prune_keeps_the_accounts_key_when_it_is_not_of_the_default_type(apis: FakeApis, key: str,
                                                                         home: Path) -> None:
    """Key at ~/.ssh/id_ed25519, no id_rsa.pub: every onboard key counted as another instance's and
    the account's own entry was deleted (issue 22)."""
    assert not (home / ".ssh" / "id_rsa.pub").exists()
    apis.add("github", key, "onboard: me@this-box 2020-01-01", days_old=2000)
    apis.add("github", OTHER + "1", "onboard: me@deleted-ci 2020-01-01", days_old=2000)
    r = _prune_default_type(apis)
    assert r.returncode == 0, r.output
    assert apis.titles("github") == ["onboard: me@this-box 2020-01-01"], r.output


def test_prune_keeps_the_key_named_in_onboards_ssh_config_block(apis: FakeApis, home: Path) -> None:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase", "--key-file", str(home / "keys" / "k"))
    assert r.returncode == 0, r.output
    line = (home / "keys" / "k.pub").read_text()
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text("# >>> onboard: managed block, edit with `onboard` or remove both markers >>>\n"
                                "# provider: github\nHost github.com\n  IdentityFile ~/keys/k\n  IdentitiesOnly yes\n"
                                "# lines below apply to every host again\nHost *\n# <<< onboard <<<\n")
    apis.add("github", line, "onboard: me@this-box 2020-01-01", days_old=2000)
    r = _prune_default_type(apis)
    assert r.returncode == 0, r.output
    assert apis.titles("github") == ["onboard: me@this-box 2020-01-01"], r.output


def test_prune_removes_a_rotated_away_backup(apis: FakeApis, key: str, home: Path) -> None:
    """rotate keeps the old pair as *.bak-*: not a local key, so prune may finish the rotation."""
    ssh = home / ".ssh"
    (ssh / "id_ed25519.pub").rename(ssh / "id_ed25519.bak-20250101.pub")
    (ssh / "id_ed25519").rename(ssh / "id_ed25519.bak-20250101")
    apis.add("github", key, "onboard: me@this-box 2020-01-01", days_old=2000)
    r = _prune_default_type(apis)
    assert r.returncode == 0, r.output
    assert apis.titles("github") == [], r.output
