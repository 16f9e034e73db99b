"""keys upload --signing (and setup --upload ... --signing) against the fake key APIs: GitHub's
separate signing-key list, GitLab's usage type, the providers with no signing-key API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import run_env
from helpers.fake_apis import EMAIL, GOOD, SIGNING, FakeApis
from helpers.run import onboard

OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "C" * 22


@pytest.fixture
def key(home: Path) -> str:
    r = run_env("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    return (home / ".ssh" / "id_ed25519.pub").read_text()


ENV = {"GH_TOKEN": GOOD, "GITLAB_TOKEN": GOOD, "BITBUCKET_TOKEN": GOOD, "BITBUCKET_EMAIL": EMAIL,
       "ONBOARD_FORGE_TOKEN": GOOD}


def site_args(apis: FakeApis, site: str, tmp_path: Path) -> list[str]:
    """The provider name and flags that point onboard's client for `site` at the fake."""
    if site == "gitea":  # a team-file provider speaking gitea (codeberg's address is built in)
        f = tmp_path / "gitea.toml"
        f.write_text(f'[providers.forge]\nhosts = ["forge.example"]\nfingerprints = ["SHA256:{"A" * 43}"]\n'
                     f'api = "gitea"\napi_url = "{apis.url("gitea")}"\n')
        return ["forge", "--providers-file", str(f)]
    flag = {"github": "--github-api", "gitlab": "--gitlab-url", "bitbucket": "--bitbucket-api"}[site]
    return [site, flag, apis.url(site)]


def up(apis: FakeApis, tmp_path: Path, *sites: str, extra: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """keys upload in-process, pointed at the fake for each site."""
    names: list[str] = []
    flags: list[str] = []
    for site in sites:
        name, *more = site_args(apis, site, tmp_path)
        names.append(name)
        flags += more
    return run_env("keys", "upload", *names, "--key-type", "ed25519", "--timeout", "2", *flags, *extra, env=ENV)


def blob(line: str) -> str:
    return " ".join(line.split()[:2])


def uploads(r) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    return {u["provider"]: u for u in json.loads(r.stdout)["uploads"]}


def test_github_and_gitlab_register_once_and_a_rerun_registers_nothing(apis: FakeApis, key: str,
                                                                        tmp_path: Path) -> None:
    r = up(apis, tmp_path, "github", "gitlab", extra=("--signing", "--json"))
    assert r.returncode == 0, r.output
    got = uploads(r)
    assert [got[p]["status"] for p in ("github", "gitlab")] == ["added", "added"]
    assert [got[p]["signing"] for p in ("github", "gitlab")] == ["added", "added"]
    # GitHub: the authentication key as without --signing, and once in the signing list
    assert [blob(str(k["key"])) for k in apis.keys["github"]] == [blob(key)]
    assert [blob(str(k["key"])) for k in apis.keys[SIGNING]] == [blob(key)]
    assert str(apis.keys[SIGNING][0]["title"]).startswith("onboard: ")
    # GitLab: one key, for both
    [gl] = apis.keys["gitlab"]
    assert gl["usage_type"] == "auth_and_signing"
    assert [b.get("usage_type") for site, b in apis.sent if site == "gitlab"] == ["auth_and_signing"]
    posts = apis.posts
    assert posts == 3
    again = up(apis, tmp_path, "github", "gitlab", extra=("--signing", "--json"))
    assert again.returncode == 0, again.output
    assert [uploads(again)[p]["signing"] for p in ("github", "gitlab")] == ["already-registered"] * 2
    assert apis.posts == posts and len(apis.keys[SIGNING]) == 1 and len(apis.keys["gitlab"]) == 1


def test_without_signing_nothing_goes_to_the_signing_list(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.fail[f"{SIGNING}:list"] = 500  # would fail the run if the signing list were read
    r = up(apis, tmp_path, "github", "gitlab", extra=("--json",))
    assert r.returncode == 0, r.output
    assert apis.keys[SIGNING] == [] and [u["signing"] for u in uploads(r).values()] == [None, None]
    assert f"{SIGNING}:list" in apis.fail  # never asked
    # GitLab's POST as before --signing existed: no usage_type (GitLab's own default applies)
    assert [sorted(b) for site, b in apis.sent if site == "gitlab"] == [["key", "title"]]


def test_a_key_already_for_authentication_on_github_is_added_to_the_signing_list(
        apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.add("github", key, "my laptop")
    r = up(apis, tmp_path, "github", extra=("--signing", "--json"))
    assert r.returncode == 0, r.output
    assert uploads(r)["github"]["status"] == "already-registered" and uploads(r)["github"]["signing"] == "added"
    assert len(apis.keys["github"]) == 1 and len(apis.keys[SIGNING]) == 1


def test_a_gitlab_key_for_authentication_only_is_said_to_be_unchangeable(apis: FakeApis, key: str,
                                                                          tmp_path: Path) -> None:
    apis.add("gitlab", key, "my laptop", usage_type="auth")
    r = up(apis, tmp_path, "gitlab", extra=("--signing", "--json"))
    assert r.returncode == 0, r.output
    assert uploads(r)["gitlab"]["signing"] == "auth-only"
    assert "authentication only" in r.stderr and "cannot change" in r.stderr and "delete the key" in r.stderr
    assert apis.posts == 0 and apis.keys["gitlab"][0]["usage_type"] == "auth"


@pytest.mark.parametrize(("site", "source"), [("bitbucket", "support.atlassian.com"), ("gitea", "docs.gitea.com")])
def test_providers_without_a_signing_api_say_so_and_where_exit_0(apis: FakeApis, key: str, tmp_path: Path,
                                                                 site: str, source: str) -> None:
    r = up(apis, tmp_path, site, extra=("--signing", "--json"))
    assert r.returncode == 0, r.output
    [result] = json.loads(r.stdout)["uploads"]
    assert result["status"] == "added" and result["signing"] == "unsupported"
    [line] = [x for x in r.stderr.splitlines() if "no API registers signing keys" in x]
    assert source in line and "add it by hand at" in line
    assert len(apis.keys[site]) == 1  # the authentication key, as without --signing


def test_bitbucket_names_its_page(apis: FakeApis, key: str, tmp_path: Path) -> None:
    r = up(apis, tmp_path, "bitbucket", extra=("--signing",))
    assert "https://bitbucket.org/account/settings/ssh-keys/" in r.stderr


@pytest.mark.parametrize("status", [403, 404])
def test_a_refusal_of_githubs_signing_endpoint_names_the_permission(apis: FakeApis, key: str, tmp_path: Path,
                                                                    status: int) -> None:
    apis.fail[f"{SIGNING}:add"] = status
    r = up(apis, tmp_path, "github", extra=("--signing", "--json"))
    assert r.returncode == 2, r.output
    err = json.loads(r.stdout)["error"]
    text = json.dumps(err)
    assert "add the signing key" in text and "write:ssh_signing_key" in text and "SSH signing keys" in text
    assert len(apis.keys["github"]) == 1 and apis.keys[SIGNING] == []  # authentication done first, as asked


def test_a_signing_key_another_account_uses_is_a_conflict(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.add("github", key, "mine")
    apis.elsewhere.add(key.split()[1])
    r = up(apis, tmp_path, "github", extra=("--signing",))
    assert r.returncode != 0 and "already in use" in r.output


def test_keys_list_json_has_usage(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.add("github", key, "auth one")
    apis.add(SIGNING, key, "signing one")
    apis.add("gitlab", key, "both")
    apis.add("gitlab", OTHER, "auth only", usage_type="auth")
    r = run_env("keys", "list", "github", "gitlab", "--key-type", "ed25519", "--timeout", "5", "--json",
                "--github-api", apis.url("github"), "--gitlab-url", apis.url("gitlab"), env=ENV)
    assert r.returncode == 0, r.output
    listed = [(k["provider"], k["title"], k["usage"], k["current"]) for k in json.loads(r.stdout)["keys"]]
    assert listed == [("github", "auth one", "auth", True), ("github", "signing one", "signing", True),
                      ("gitlab", "both", "auth_and_signing", True), ("gitlab", "auth only", "auth", False)]


def test_keys_list_without_the_signing_scope_still_lists_and_says_why(apis: FakeApis, key: str,
                                                                      tmp_path: Path) -> None:
    apis.add("github", key, "auth one")
    apis.fail[f"{SIGNING}:list"] = 403
    r = run_env("keys", "list", "github", "--key-type", "ed25519", "--timeout", "5", "--json",
                "--github-api", apis.url("github"), env=ENV)
    assert r.returncode == 0, r.output
    assert [k["usage"] for k in json.loads(r.stdout)["keys"]] == ["auth"]
    assert "signing keys not listed" in r.stderr and "read:ssh_signing_key" in r.stderr


def test_prune_leaves_signing_keys_alone(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.add(SIGNING, OTHER, "onboard: me@gone 2024-01-01", days_old=400)
    r = run_env("keys", "prune", "github", "--older-than", "30", "--dry-run", "--json", "--key-type", "ed25519",
                "--github-api", apis.url("github"), env=ENV)
    assert r.returncode == 0, r.output
    assert json.loads(r.stdout)["would_remove"] == []


def test_setup_upload_with_signing_registers_for_signing(apis: FakeApis, home: Path) -> None:
    args = ("setup", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--no-passphrase", "--signing",
            "--email", "me@example.com", "--providers", "github", "--offline", "--upload", "github",
            "--github-api", apis.url("github"), "--json")
    r = onboard(*args, env={"GH_TOKEN": GOOD})
    assert r.returncode == 0, r.output
    line = (home / ".ssh" / "id_ed25519.pub").read_text()
    assert [blob(str(k["key"])) for k in apis.keys[SIGNING]] == [blob(line)]
    assert [blob(str(k["key"])) for k in apis.keys["github"]] == [blob(line)]
    posts = apis.posts
    assert onboard(*args, env={"GH_TOKEN": GOOD}).returncode == 0
    assert apis.posts == posts and len(apis.keys[SIGNING]) == 1
