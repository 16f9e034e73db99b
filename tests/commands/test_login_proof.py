"""A login is proven by ssh saying it authenticated, not by a greeting (issue 24, item 8): a plain
git-shell server (no greeting; "Interactive git shell is not enabled", exit 128) counts as
success, and the user is the one of the team's repository URLs, each one tested."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.fake_apis import GOOD, FakeApis
from helpers.run import onboard
from helpers.sshd import SSHD, Sshd, start_sshd

from onboarding import sshlogin

pytestmark = pytest.mark.sshd


@pytest.fixture(scope="module")
def gitshell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real sshd whose every login runs a bare git-shell, as a plain Git server does."""
    if SSHD is None:
        pytest.skip("OpenSSH sshd is not installed")
    server = start_sshd(tmp_path_factory.mktemp("gitshell"), extra=("ForceCommand /usr/bin/git-shell",))
    yield server
    assert server.proc
    server.proc.terminate()
    server.proc.wait(timeout=10)


def _team(tmp_path: Path, server: Sshd, *users: str) -> Path:
    team = tmp_path / "team.toml"
    urls = ", ".join(f'"ssh://{u}@127.0.0.1:{server.port}/srv/app.git"' for u in users)
    team.write_text(f"[setup]\nrepos = [{urls}]\n")
    return team


def _pins(tmp_path: Path, server: Sshd, extra: str = "") -> Path:
    pins = tmp_path / "pins.toml"  # the provider's default user is git, whom this server refuses
    pins.write_text(server.providers_toml().replace(f'user = "{server.user}"\n', "") + extra)
    return pins


def test_doctor_counts_a_git_shell_login_as_success_for_each_user_of_the_urls(gitshell: Sshd, home: Path,
                                                                              tmp_path: Path) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase").returncode == 0
    gitshell.authorize(home / ".ssh" / "id_ed25519.pub")
    pins = _pins(tmp_path, gitshell)
    assert onboard("hosts", "verify", "local", "--providers-file", str(pins)).returncode == 0
    args = ("doctor", "--auth-test", "--key-type", "ed25519", "--providers-file", str(pins), "--providers", "local")
    both = onboard(*args, "--config", str(_team(tmp_path, gitshell, gitshell.user, "git")))
    assert f"{gitshell.user}@[127.0.0.1]:{gitshell.port} accepts the key" in both.stdout, both.output
    assert f"git@[127.0.0.1]:{gitshell.port}: git@127.0.0.1: Permission denied" in both.stdout  # each user tested
    assert both.returncode == 1
    mine = onboard(*args, "--config", str(_team(tmp_path, gitshell, gitshell.user)))
    assert mine.returncode == 0, mine.output
    assert "Interactive git shell is not enabled" in mine.stdout  # what the server said after the login


def test_rotate_proves_the_new_key_on_a_git_shell_server(apis: FakeApis, gitshell: Sshd, home: Path,
                                                         tmp_path: Path) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase").returncode == 0
    old = (home / ".ssh" / "id_ed25519.pub").read_text()
    apis.add("github", old, "onboard: me@old-box 2024-01-01", days_old=100)
    apis.authorize("github", gitshell.authorized_keys)
    pins = _pins(tmp_path, gitshell, f'api = "github"\napi_url = "{apis.url("github")}"\n')
    assert onboard("hosts", "verify", "local", "--providers-file", str(pins)).returncode == 0
    r = onboard("keys", "rotate", "local", "--providers", "local", "--providers-file", str(pins), "--key-type",
                "ed25519", "-y", "--timeout", "10", "--no-passphrase", "--config",
                str(_team(tmp_path, gitshell, gitshell.user)), env={"ONBOARD_LOCAL_TOKEN": GOOD})
    assert r.returncode == 0, r.output
    new = (home / ".ssh" / "id_ed25519.pub").read_text()
    assert new != old and [k["key"] for k in apis.keys["github"]] == [" ".join(new.split()[:2])]


@pytest.mark.parametrize(("log", "ok", "endpoint"), [
    ('Authenticated to ssh.github.com ([140.82.112.36]:443) using "publickey".\n', True, "ssh.github.com:443"),
    ('debug1: Authenticated to gh.example.invalid ([192.0.2.1]:22) using "publickey".\n', True,
     "gh.example.invalid:22"),
    ("debug1: Authentication succeeded (publickey).\n", True, None),
    ("Hi there! You've successfully authenticated, but GitHub does not provide shell access.\n", False, None),
    ("git@gh.example.invalid: Permission denied (publickey).\n", False, None),
])
def test_only_ssh_saying_it_authenticated_is_a_login(log: str, ok: bool, endpoint: str | None) -> None:
    login = sshlogin.judge("", "debug1: Reading configuration data /dev/null\n" + log)
    assert (login.ok, login.endpoint) == (ok, endpoint)
    assert not any(line.startswith(("debug1", "Authenticated")) for line in login.said)
