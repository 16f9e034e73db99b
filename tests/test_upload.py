"""keys upload against local servers that answer as the four key APIs document, or as hostile ones."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest
from helpers.cli import run_env
from helpers.fake_apis import BAD, EMAIL, GOOD, NOSCOPE, FakeApis
from helpers.run import onboard
from helpers.sshd import Sshd

from onboarding.errors import UsageError

SITES = ("github", "gitlab", "bitbucket", "gitea")
ENV = {"GH_TOKEN": GOOD, "GITLAB_TOKEN": GOOD, "BITBUCKET_TOKEN": GOOD, "BITBUCKET_EMAIL": EMAIL,
       "ONBOARD_CODEBERG_TOKEN": GOOD}


@pytest.fixture
def key(home: Path) -> str:
    r = run_env("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    return (home / ".ssh" / "id_ed25519.pub").read_text()


def codeberg_at(apis: FakeApis, tmp_path: Path) -> str:
    """A providers file whose gitea-speaking provider points at the fake (codeberg's own name is built in)."""
    f = tmp_path / "gitea.toml"
    f.write_text(f'[providers.forge]\nhosts = ["forge.example"]\nfingerprints = ["SHA256:{"A" * 43}"]\n'
                 f'api = "gitea"\napi_url = "{apis.url("gitea")}"\n')
    return str(f)


def site_args(apis: FakeApis, site: str, tmp_path: Path) -> list[str]:
    """The provider name and flags that point onboard's client for `site` at the fake."""
    return {
        "github": ["github", "--github-api", apis.url("github")],
        "gitlab": ["gitlab", "--gitlab-url", apis.url("gitlab")],
        "bitbucket": ["bitbucket", "--bitbucket-api", apis.url("bitbucket")],
        "gitea": ["forge", "--providers-file", codeberg_at(apis, tmp_path)],
    }[site]


def up(apis: FakeApis, tmp_path: Path, *sites: str, token: str = GOOD, extra: tuple[str, ...] = (),
       env: dict[str, str] | None = None, child: bool = False):  # type: ignore[no-untyped-def]
    """keys upload in-process (a mutation tool sees which code each test runs); child=True: `python -m onboarding`."""
    args: list[str] = []
    names: list[str] = []
    for site in sites:
        name, *flags = site_args(apis, site, tmp_path)
        names.append(name)
        args += flags
    tokens = {k: (token if "TOKEN" in k else v) for k, v in ENV.items()}
    argv = ["keys", "upload", *names, "--key-type", "ed25519", "--timeout", "2", *args, *extra]
    full_env = {**tokens, "ONBOARD_FORGE_TOKEN": token, **(env or {})}
    if child:
        return onboard(*argv, env=full_env, timeout=60)
    return run_env(*argv, env=full_env)


def test_new_key_is_added_to_all_four_with_a_telling_title(apis: FakeApis, key: str, tmp_path: Path) -> None:
    r = up(apis, tmp_path, *SITES, extra=("--json",))
    assert r.returncode == 0, r.output
    assert [u["status"] for u in json.loads(r.stdout)["uploads"]] == ["added"] * 4
    for site in SITES:
        [entry] = apis.keys[site]
        assert entry["key"] == " ".join(key.split()[:2])
        title = str(entry["title"])
        assert title.startswith("onboard: ") and "@" in title and time.strftime("%Y-%m-%d") in title
    assert GOOD not in r.output


@pytest.mark.parametrize("site", SITES)
def test_existing_key_is_already_registered_without_a_post(apis: FakeApis, key: str, tmp_path: Path,
                                                           site: str) -> None:
    apis.add(site, key, "old")
    r = up(apis, tmp_path, site)
    assert r.returncode == 0 and "already registered" in r.stderr, r.output
    assert apis.posts == 0


@pytest.mark.parametrize("site", SITES)
def test_our_key_on_a_later_page_is_found(apis: FakeApis, key: str, tmp_path: Path, site: str) -> None:
    for i in range(149):
        apis.add(site, f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:022d}", f"laptop {i}")
    apis.add(site, key, "this one, on page 2 or 3")
    r = up(apis, tmp_path, site)
    assert r.returncode == 0 and "already registered" in r.stderr, r.output
    assert apis.posts == 0


@pytest.mark.parametrize("site", SITES)
def test_key_used_by_another_account(apis: FakeApis, key: str, tmp_path: Path, site: str) -> None:
    apis.elsewhere.add(key.split()[1])
    r = up(apis, tmp_path, site)
    assert r.returncode == 5, r.output
    assert "another" in r.stderr and "account" in r.stderr


@pytest.mark.parametrize(("site", "token", "words"), [
    ("github", BAD, "rejected the token (401)"),
    ("gitlab", BAD, "rejected the token (401)"),
    ("gitea", BAD, "rejected the token (401)"),
    ("bitbucket", BAD, "rejected the API token and email (401)"),
    ("github", NOSCOPE, "admin:public_key"),
    ("gitlab", NOSCOPE, "`api` scope"),
    ("gitea", NOSCOPE, "write:user"),
    ("bitbucket", NOSCOPE, "read:user:bitbucket"),
])
def test_token_errors_say_the_fix(apis: FakeApis, key: str, tmp_path: Path, site: str, token: str,
                                  words: str) -> None:
    r = up(apis, tmp_path, site, token=token)
    assert r.returncode == 2, r.output
    assert words in r.output and token not in r.output


def test_bitbucket_needs_the_account_email(apis: FakeApis, key: str, tmp_path: Path) -> None:
    r = up(apis, tmp_path, "bitbucket", env={"BITBUCKET_EMAIL": ""})
    assert r.returncode == 2 and "BITBUCKET_EMAIL" in r.stderr, r.output
    assert apis.seen == []
    r = up(apis, tmp_path, "bitbucket", env={"BITBUCKET_EMAIL": "", "ONBOARD_BITBUCKET_EMAIL": EMAIL})
    assert r.returncode == 0, r.output


# -- hostile or broken servers: exit 4 naming the provider, never a hang or a crash -------------
def test_a_server_dripping_bytes_is_cut_at_the_total_deadline(apis: FakeApis, key: str, tmp_path: Path) -> None:
    # One byte every half second for five minutes: each read is quick, so only a deadline for the
    # whole request ends it. onboard()'s own 60 s timeout would fail the test on a hang.
    apis.mode = "drip"
    r = up(apis, tmp_path, "github")
    assert r.returncode == 4, r.output
    assert "github: no complete answer" in r.stderr and "within 2 s" in r.stderr


def test_a_3gb_content_length_is_refused_before_reading(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.mode = "huge"  # the server then sends nothing: reading the body would end in the deadline instead
    r = up(apis, tmp_path, "gitlab")
    assert r.returncode == 4, r.output
    assert "announced a 3,221,225,472-byte answer" in r.stderr and apis.posts == 0


def test_an_endless_body_is_abandoned_at_the_cap(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.mode = "huge-chunked"
    r = up(apis, tmp_path, "github", child=True)  # a child: its peak memory is measured below
    assert r.returncode == 4, r.output
    assert "sent more than 4,194,304 bytes" in r.stderr
    # every child of this test so far (keygen, upload) stayed small: no 3 GB buffer
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 300 * 1024


@pytest.mark.parametrize(("mode", "words"), [
    ("dict", "not a list of keys"),
    ("strings", "an entry is not an object"),
    ("notjson", "not JSON"),
    ("nothttp", "did not give a valid HTTP answer"),
    ("loop", "does not end"),
    ("offsite", "pointed to another server"),
    ("redirect", "redirect"),
])
@pytest.mark.parametrize("site", ["github", "gitea"])
def test_malformed_answers_are_exit_4_naming_the_provider(apis: FakeApis, key: str, tmp_path: Path, mode: str,
                                                          words: str, site: str) -> None:
    apis.mode = mode
    r = up(apis, tmp_path, site)
    assert r.returncode == 4, r.output
    name = "forge" if site == "gitea" else site
    assert f"{name}:" in r.stderr and words in r.stderr, r.stderr
    assert "Traceback" not in r.output and apis.posts == 0


def test_bitbucket_page_that_is_not_a_page(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.mode = "strings"  # /user answers a list: no uuid
    r = up(apis, tmp_path, "bitbucket")
    assert r.returncode == 4 and "bitbucket:" in r.stderr and "uuid" in r.stderr, r.output


def test_token_needs_https_and_an_api(key: str, tmp_path: Path) -> None:
    r = run_env("keys", "upload", "github", "--key-type", "ed25519", "--github-api", "http://api.example.com",
                env={"GH_TOKEN": GOOD})
    assert r.returncode == 2 and "https://" in r.stderr
    r = run_env("keys", "upload", "github", "--key-type", "ed25519")
    assert r.returncode == 2 and "GH_TOKEN" in r.stderr and "--token-file github=FILE" in r.stderr
    r = run_env("keys", "upload", "azure-devops", "--key-type", "ed25519", env={"GH_TOKEN": GOOD})
    assert r.returncode == 2 and "paste the key by hand" in r.stderr
    r = run_env("keys", "upload", "--key-type", "ed25519")
    assert r.returncode == 2 and "no provider has a token" in r.stderr


# -- tokens: one per provider ---------------------------------------------------------------------
def test_one_token_file_for_two_providers_is_refused(apis: FakeApis, key: str, tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(GOOD + "\n")
    r = run_env("keys", "upload", "github", "gitlab", "--key-type", "ed25519", "--github-api", apis.url("github"),
                "--gitlab-url", apis.url("gitlab"), "--token-file", str(f))
    assert r.returncode == 2 and "github=FILE" in r.stderr, r.output
    assert apis.seen == []  # nothing was sent anywhere


def test_each_token_reaches_only_its_provider(apis: FakeApis, key: str, tmp_path: Path) -> None:
    apis.tokens.update(github="tok_gh_only", gitlab="tok_gl_only")
    (tmp_path / "gh").write_text("tok_gh_only\n")
    (tmp_path / "gl").write_text("tok_gl_only")
    r = run_env("keys", "upload", "github", "gitlab", "--key-type", "ed25519", "--github-api", apis.url("github"),
                "--gitlab-url", apis.url("gitlab"), "--token-file", f"github={tmp_path / 'gh'}",
                "--token-file", f"gitlab={tmp_path / 'gl'}", env={"GH_TOKEN": "tok_env_unused"})
    assert r.returncode == 0, r.output
    sent = {(site, auth) for site, _, auth in apis.seen}
    assert sent == {("github", "Bearer tok_gh_only"), ("gitlab", "tok_gl_only")}
    assert "tok_" not in r.output


def test_bare_token_file_for_one_provider(apis: FakeApis, key: str, tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(GOOD + "\n")
    r = run_env("keys", "upload", "gitlab", "--key-type", "ed25519", "--gitlab-url", apis.url("gitlab"),
                "--token-file", str(f))
    assert r.returncode == 0, r.output
    assert len(apis.keys["gitlab"]) == 1


def test_a_token_with_a_newline_inside_is_refused(apis: FakeApis, key: str, tmp_path: Path) -> None:
    r = up(apis, tmp_path, "github", env={"GH_TOKEN": "abc\r\nX-Injected: 1"})
    assert r.returncode == 2 and "not one token" in r.stderr, r.output
    assert apis.seen == [] and "X-Injected" not in r.output


@pytest.mark.parametrize(("fields", "words"), [
    ('api = "gitea"', "api_url"),
    ('api = "sourcehut"\napi_url = "https://x.example"', "api must be one of"),
])
def test_team_provider_api_fields_are_checked(key: str, tmp_path: Path, fields: str, words: str) -> None:
    f = tmp_path / "p.toml"
    f.write_text(f'[providers.forge]\nhosts = ["forge.example"]\nfingerprints = ["SHA256:{"A" * 43}"]\n{fields}\n')
    r = run_env("keys", "upload", "forge", "--key-type", "ed25519", "--providers-file", str(f), env={"ONBOARD_FORGE_TOKEN": GOOD})
    assert r.returncode == 2 and words in r.stderr, r.output


@pytest.mark.sshd
def test_unattended_setup_uploads_then_clones(apis: FakeApis, sshd: Sshd, bare_repo: str, home: Path,
                                              tmp_path: Path) -> None:
    from helpers.procwatch import ProcWatcher

    apis.authorize("github", sshd.authorized_keys)  # the provider now decides which keys sshd accepts
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    with ProcWatcher(GOOD) as watcher:
        r = onboard("setup", "--non-interactive", "--no-passphrase", "--key-type", "ed25519", "--upload", "github",
                    "--github-api", apis.url("github"), "--providers-file", str(pins), "--providers", "local",
                    "--repo", sshd.url(bare_repo), "--json", env={"GH_TOKEN": GOOD})
    assert r.returncode == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["uploads"] == ["added"] and summary["clones"][0]["status"] == "cloned"
    assert (home / bare_repo[:-4] / "README.md").exists()
    assert GOOD not in r.output
    assert [h for h in watcher.hits if "/cmdline" in h] == []  # the token is in no process's argv


# -- onboarding.upload: the names setup and the wizard call, in-process ---------------------------
def test_the_setup_upload_step_adds_once_then_finds_it(apis: FakeApis, key: str) -> None:
    from onboarding import api
    from onboarding import upload as up

    ep = api.Endpoint("github", "github", apis.url("github"))
    first = up.upload(ep, key, "onboard test", token=GOOD, timeout=5)
    assert first == up.UploadResult("github", "added", "onboard test")
    again = up.upload(ep, key, "another title", token=GOOD, timeout=5)
    assert again == up.UploadResult("github", "already-registered", "onboard test")
    assert len(apis.keys["github"]) == 1 and apis.posts == 1
    bb = api.Endpoint("bitbucket", "bitbucket", apis.url("bitbucket"))
    assert up.upload(bb, key, "t", token=GOOD, timeout=5, email=EMAIL).status == "added"
    with pytest.raises(UsageError, match="email"):
        up.upload(bb, key, "t", token=GOOD, timeout=5)


def test_the_setup_token_reader_takes_a_file_for_its_provider_only(tmp_path: Path) -> None:
    from onboarding import upload as up

    f = tmp_path / "token"
    f.write_text("tok_from_file\n")
    assert up.read_token("github", f, {}) == "tok_from_file"  # a bare file: for this provider
    assert up.read_token("github", {"gitlab": f}, {"GH_TOKEN": "tok_env"}) == "tok_env"
    assert up.read_token("gitlab", {"gitlab": f}, {"GITLAB_TOKEN": "tok_env"}) == "tok_from_file"
    with pytest.raises(UsageError, match="no token for github"):
        up.read_token("github", None, {})
    with pytest.raises(UsageError, match="not one token"):
        up.read_token("github", None, {"GH_TOKEN": "a b"})


def test_the_setup_token_reader_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from onboarding import upload as up

    monkeypatch.setenv("GH_TOKEN", "tok_from_environment")
    assert up.read_token("github", None) == "tok_from_environment"
