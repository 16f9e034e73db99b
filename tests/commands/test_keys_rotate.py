"""keys rotate against a fake GitHub API that decides which keys a real loopback sshd accepts.

"Verified" is real: the fake rewrites sshd's AuthorizedKeysFile with the keys registered on it,
so logging in with a key proves it is registered. A failure is injected at each step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers.fake_apis import GOOD, FakeApis
from helpers.run import Result, onboard
from helpers.sshd import Sshd

pytestmark = pytest.mark.sshd


@pytest.fixture
def world(apis: FakeApis, sshd: Sshd, home: Path, tmp_path: Path) -> tuple[Path, str]:
    """An old key registered on the fake (so sshd takes it), the sshd pinned as provider `local`."""
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    old = (home / ".ssh" / "id_ed25519.pub").read_text()
    apis.add("github", old, "onboard: me@old-box 2024-01-01", days_old=100)
    apis.authorize("github", sshd.authorized_keys)
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml(extra=f'api = "github"\napi_url = "{apis.url("github")}"\n'))
    r = onboard("hosts", "verify", "local", "--providers-file", str(pins))
    assert r.returncode == 0, r.output
    return pins, old


def logs_in(sshd: Sshd, key: Path) -> bool:
    done = subprocess.run(["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "IdentityAgent=none", "-p", str(sshd.port), f"{sshd.user}@127.0.0.1", "true"],
                          capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    return done.returncode == 0


def rotate(pins: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return onboard("keys", "rotate", "local", "--providers", "local", "--providers-file", str(pins),
                   "--key-type", "ed25519", "-y", "--timeout", "10", *args,
                   env={"ONBOARD_LOCAL_TOKEN": GOOD, **(env or {})})


def backups(home: Path) -> list[Path]:
    return sorted(p for p in (home / ".ssh").iterdir() if ".bak-" in p.name and not p.name.endswith(".pub"))


def test_rotate_replaces_the_key_after_proving_the_new_one(apis: FakeApis, sshd: Sshd, home: Path,
                                                            world: tuple[Path, str]) -> None:
    pins, old = world
    r = rotate(pins, "--passphrase-env", "NEWPW", "--json", env={"NEWPW": "correct horse battery"})
    assert r.returncode == 0, r.output
    new = (home / ".ssh" / "id_ed25519.pub").read_text()
    assert new.split()[1] != old.split()[1]
    assert [k["key"] for k in apis.keys["github"]] == [" ".join(new.split()[:2])]
    assert apis.titles("github")[0].startswith("onboard: ")
    # the time of day too: a second rotation on the same day gets a title of its own
    assert re.search(r" \d{4}-\d\d-\d\d rotated \d\d:\d\d:\d\d$", apis.titles("github")[0])
    assert new.split()[2:] == old.split()[2:] != []  # the old key's comment (its email) is kept
    [backup] = backups(home)
    assert Path(str(backup) + ".pub").read_text() == old
    assert not logs_in(sshd, backup)  # the old key no longer opens anything
    summary = json.loads(r.stdout)
    assert summary["providers"][0]["old_removed"] is True
    assert "correct horse" not in r.output and GOOD not in r.output
    assert not list((home / ".ssh").glob("*.rotate-new*"))


@pytest.mark.parametrize(("step", "code"), [("list", 4), ("add", 4), ("verify", 6)])
def test_a_failure_before_removal_leaves_the_old_key_working(apis: FakeApis, sshd: Sshd, home: Path,
                                                              world: tuple[Path, str], step: str, code: int) -> None:
    pins, old = world
    if step == "verify":
        apis.frozen = True  # registered, but sshd never hears of it: logging in fails
    else:
        apis.fail[f"github:{step}"] = 500
    r = rotate(pins, "--no-passphrase")
    assert r.returncode == code, r.output
    assert (home / ".ssh" / "id_ed25519.pub").read_text() == old
    assert logs_in(sshd, home / ".ssh" / "id_ed25519")
    assert [k["key"] for k in apis.keys["github"]] == [" ".join(old.split()[:2])]  # the new key was taken back
    assert backups(home) == [] and not list((home / ".ssh").glob("*.rotate-new*"))
    if step == "verify":
        assert "logging in with it failed" in r.stderr and "old key still works" in r.stderr


def test_a_failed_removal_is_exit_7_naming_the_step_left(apis: FakeApis, sshd: Sshd, home: Path,
                                                         world: tuple[Path, str]) -> None:
    pins, old = world
    apis.fail["github:delete"] = 500
    r = rotate(pins, "--no-passphrase")
    assert r.returncode == 7, r.output
    old_fp = subprocess.run(["ssh-keygen", "-lf", "/dev/stdin"], input=old, capture_output=True, text=True).stdout.split()[1]
    assert f"local: delete the old key 'onboard: me@old-box 2024-01-01' ({old_fp})" in r.stderr  # as the page shows it
    assert logs_in(sshd, home / ".ssh" / "id_ed25519")  # the new key, in place and working
    [backup] = backups(home)
    assert Path(str(backup) + ".pub").read_text() == old and logs_in(sshd, backup)  # still registered
    # what is left is exactly what prune (or a second rotate) would remove
    assert len(apis.keys["github"]) == 2


def test_rotate_needs_providers_it_cannot_reach_named_as_skipped(apis: FakeApis, home: Path,
                                                                 world: tuple[Path, str]) -> None:
    pins, old = world
    r = onboard("keys", "rotate", "local", "--providers-file", str(pins), "--key-type", "ed25519", "-y",
                "--no-passphrase", env={"ONBOARD_LOCAL_TOKEN": GOOD})
    assert r.returncode == 2 and "azure-devops" in r.stderr and "--skip" in r.stderr, r.output
    assert apis.seen == [] and (home / ".ssh" / "id_ed25519.pub").read_text() == old
    r = onboard("keys", "rotate", "local", "--providers-file", str(pins), "--key-type", "ed25519", "-y",
                "--no-passphrase", "--skip", "github,gitlab,bitbucket,azure-devops,codeberg",
                env={"ONBOARD_LOCAL_TOKEN": GOOD})
    assert r.returncode == 0, r.output


@pytest.mark.parametrize("step", ["add", "delete"])
def test_interrupted_rotate_leaves_a_working_key(apis: FakeApis, sshd: Sshd, home: Path,
                                                  world: tuple[Path, str], step: str) -> None:
    import os
    import signal
    import sys
    import threading

    pins, old = world
    gate = threading.Event()
    apis.hold[f"github:{step}"] = gate
    child = subprocess.Popen(
        [sys.executable, "-m", "onboarding", "keys", "rotate", "local", "--providers", "local", "--providers-file",
         str(pins), "--key-type", "ed25519", "-y", "--no-passphrase"],
        env={**os.environ, "ONBOARD_LOCAL_TOKEN": GOOD}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        assert apis.arrived.wait(60), "rotate never reached the held request"
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        gate.set()
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert logs_in(sshd, home / ".ssh" / "id_ed25519")  # whichever key is in place opens the door
    assert not list((home / ".ssh").glob("*.rotate-new*"))
    if step == "add":  # before the swap: the old pair is untouched
        assert (home / ".ssh" / "id_ed25519.pub").read_text() == old and backups(home) == []


@pytest.mark.parametrize(("add", "listed"), [
    ("https://github.com/settings/ssh/new", "https://github.com/settings/keys"),
    ("https://gitlab.com/-/user_settings/ssh_keys", "https://gitlab.com/-/user_settings/ssh_keys"),
    ("https://codeberg.org/user/settings/keys", "https://codeberg.org/user/settings/keys"),
])
def test_the_step_left_links_to_the_list_of_keys(add: str, listed: str) -> None:
    from onboarding.rotate import keys_page

    assert keys_page(add) == listed


def test_rotation_keeps_old_signatures_valid_and_refuses_the_old_key_after_it(
        apis: FakeApis, sshd: Sshd, home: Path, tmp_path: Path, world: tuple[Path, str]) -> None:
    pins, old = world
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--signing", "--email", "me@example.com").returncode == 0
    repo = tmp_path / "signed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)

    def commit(message: str, date: str, *extra: str) -> None:
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        done = subprocess.run(["git", "-C", str(repo), *extra, "commit", "-q", "--allow-empty", "-m", message],
                              env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr

    def verifies(rev: str) -> bool:
        return subprocess.run(["git", "-C", str(repo), "verify-commit", rev], capture_output=True,
                              stdin=subprocess.DEVNULL).returncode == 0

    commit("before", "2020-01-01T00:00:00Z")
    r = rotate(pins, "--no-passphrase")
    assert r.returncode == 0, r.output
    assert "the old key signs commits dated before" in r.stderr
    signers = (home / ".config" / "git" / "allowed_signers").read_text().splitlines()
    assert len(signers) == 2
    assert re.search(r'valid-before="\d{14}Z" ssh-ed25519 ' + re.escape(old.split()[1]), signers[0])
    assert re.search(r'valid-after="\d{14}Z" ssh-ed25519 ', signers[1])
    commit("after, new key", "2099-01-01T00:00:00Z")
    [backup] = backups(home)
    commit("after, old key", "2099-01-02T00:00:00Z", "-c", f"user.signingkey={backup}")
    assert verifies("HEAD~2")  # the old key, dated before the rotation
    assert verifies("HEAD~1")  # the new key
    assert not verifies("HEAD")  # the old key, dated after the rotation


def test_rotation_moves_a_github_signing_registration(apis: FakeApis, sshd: Sshd, home: Path,
                                                       world: tuple[Path, str]) -> None:
    pins, old = world
    apis.add("github-signing", old, "onboard: me@old-box 2024-01-01 (signing)")
    r = rotate(pins, "--no-passphrase")
    assert r.returncode == 0, r.output
    new = (home / ".ssh" / "id_ed25519.pub").read_text()
    assert [k["key"] for k in apis.keys["github-signing"]] == [" ".join(new.split()[:2])]
    assert "replaces the old one as a signing key on local" in r.stderr
