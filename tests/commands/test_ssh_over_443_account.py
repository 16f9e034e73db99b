"""SSH over 443, end to end as a real account (ssh reads ~/.ssh/config from the passwd home, not
$HOME): the canonical host's port 22 is blocked on another loopback address, the local sshd is the
fallback endpoint; setup clones through it, the remote keeps the canonical URL, and a later plain
`git pull` (no onboard, no GIT_SSH_COMMAND) goes through the managed block's mapping."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.attacker import AS_AN_ACCOUNT, Account, create_account, delete_account
from helpers.dayagent import onboard_as, run_as
from helpers.gitrepo import make_bare
from helpers.port22 import port22
from helpers.sshd import Sshd, start_sshd

pytestmark = [*AS_AN_ACCOUNT, pytest.mark.sshd]


@dataclass
class World:
    acct: Account
    sshd: Sshd
    repo: Path
    pins: Path


@pytest.fixture
def world() -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="onboard-443-"))
    base.chmod(0o755)
    acct = create_account(base)
    subprocess.run(["usermod", "-p", "*", acct.name], check=True, capture_output=True)  # not locked: sshd lets it in
    root = base / "sshd"
    root.mkdir(mode=0o755)
    server = start_sshd(root, extra=(f"AllowUsers {acct.name}",))
    repo = make_bare(root / "repos" / "app.git", {"README.md": "hello\n"})
    subprocess.run(["chown", "-R", f"{acct.uid}:{acct.gid}", str(repo)], check=True)
    try:
        made = onboard_as(acct, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
        assert made.returncode == 0, made.output
        server.authorize(acct.home / ".ssh" / "id_ed25519.pub")
        yield World(acct, server, repo, base / "pins.toml")
    finally:
        assert server.proc
        server.proc.terminate()
        server.proc.wait(timeout=10)
        delete_account(acct)
        shutil.rmtree(base, ignore_errors=True)


def _pins(w: World, canonical: str) -> Path:
    keys = ", ".join(f'"{w.sshd.public_key(k)}"' for k in ("ed25519", "ecdsa", "rsa"))
    w.pins.write_text(f'[providers.corp]\nhosts = ["{canonical}", "[127.0.0.1]:{w.sshd.port}"]\n'
                      f'fallback = "[127.0.0.1]:{w.sshd.port}"\nuser = "{w.acct.name}"\nkeys = [{keys}]\n')
    w.pins.chmod(0o644)
    return w.pins


def _setup(w: World, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    r = onboard_as(w.acct, "setup", "-y", "--key-type", "ed25519", "--no-passphrase", "--providers-file",
                   str(w.pins), "--providers", "corp", "--repo", url, "--dest", str(w.acct.home / "app"),
                   "--timeout", "2", "--git-name", "Over443", "--email", "over443@example.com", *extra)
    return subprocess.CompletedProcess([], r.returncode, r.stdout, r.stderr)


def _push_from_elsewhere(repo: Path, acct: Account) -> str:
    """A new commit on the server's side (another clone, by path, as the repository's owner)."""
    work = acct.home / "other.work"
    env = {"GIT_AUTHOR_NAME": "x", "GIT_AUTHOR_EMAIL": "x@example.com", "GIT_COMMITTER_NAME": "x",
           "GIT_COMMITTER_EMAIL": "x@example.com", "PATH": "/usr/bin:/bin", "HOME": str(acct.home)}
    assert run_as(acct, ["git", "clone", "-q", str(repo), str(work)], env=env).returncode == 0
    (work / "NEWS").write_text("later\n")
    subprocess.run(["chown", f"{acct.uid}:{acct.gid}", str(work / "NEWS")], check=True)
    for argv in (["add", "NEWS"], ["commit", "-qm", "later"], ["push", "-q", "origin", "HEAD"]):
        done = run_as(acct, ["git", "-C", str(work), *argv], env=env)
        assert done.returncode == 0, done.output
    return run_as(acct, ["git", "-C", str(work), "rev-parse", "HEAD"], env=env).stdout.strip()


@pytest.mark.parametrize("kind", ["refused", "silent", "http"])
def test_setup_clones_through_the_fallback_and_a_plain_git_pull_follows_the_block(world: World, kind: str) -> None:
    w = world
    with port22(kind) as addr:
        _pins(w, addr)
        url = f"ssh://{w.acct.name}@{addr}{w.repo}"
        r = _setup(w, url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "port 22 looks blocked here" in r.stderr
        clone = w.acct.home / "app"
        assert (clone / "README.md").read_text() == "hello\n"
        remote = run_as(w.acct, ["git", "-C", str(clone), "remote", "get-url", "origin"])
        assert remote.stdout.strip() == url  # the canonical name, not the fallback's
        info = onboard_as(w.acct, "git-info", str(clone), "--json")
        assert json.loads(info.stdout)["azureml.git.repository_uri"] == url, info.output
        config = (w.acct.home / ".ssh" / "config").read_text()
        assert f"HostName 127.0.0.1\n    Port {w.sshd.port}\n" in config
        # a day later: plain git, as a notebook terminal runs it (no onboard, no GIT_SSH_COMMAND)
        head = _push_from_elsewhere(w.repo, w.acct)
        env = {"HOME": str(w.acct.home), "PATH": "/usr/bin:/bin", "USER": w.acct.name}
        pulled = run_as(w.acct, ["git", "-C", str(clone), "pull", "-q", "--ff-only"], env=env)
        assert pulled.returncode == 0, pulled.output
        now = run_as(w.acct, ["git", "-C", str(clone), "rev-parse", "HEAD"], env=env)
        assert now.stdout.strip() == head


def test_doctor_reports_the_mapping_in_effect_and_the_endpoint_that_answered(world: World) -> None:
    w = world
    with port22("refused") as addr:
        _pins(w, addr)
        verified = onboard_as(w.acct, "hosts", "verify", "corp", "--providers-file", str(w.pins), "--timeout", "2")
        assert verified.returncode == 0, verified.output
        args = ("doctor", "--auth-test", "--key-type", "ed25519", "--providers-file", str(w.pins), "--providers",
                "corp", "--json")
        r = onboard_as(w.acct, *args)
        assert r.returncode == 0, r.output
        checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
        assert checks["route:corp"]["detail"].startswith(f"{addr} goes to [127.0.0.1]:{w.sshd.port} (SSH over 443")
        assert f"accepts the key via 127.0.0.1:{w.sshd.port}" in checks["auth:corp"]["detail"]
        # an earlier line of the user's own config wins over the block: doctor says so
        config = w.acct.home / ".ssh" / "config"
        config.write_text(f"Host {addr}\n    Port 2222\n" + config.read_text())
        r = onboard_as(w.acct, *args)
        assert r.returncode == 1  # the auth test now goes to port 2222, where nothing answers
        checks = {c["name"]: c for c in json.loads(r.stdout)["result"]["checks"]}
        assert checks["route:corp"]["status"] == "warn"
        assert "an earlier line of" in checks["route:corp"]["detail"]
        assert "goes to [127.0.0.1]:2222" in checks["route:corp"]["detail"]


def test_never_is_exit_4_and_a_url_naming_port_22_is_warned_about(world: World) -> None:
    w = world
    with port22("refused") as addr:
        _pins(w, addr)
        r = _setup(w, f"ssh://{w.acct.name}@{addr}{w.repo}", "--ssh-over-443", "never")
        assert r.returncode == 4, r.stdout + r.stderr
        assert "--ssh-over-443 auto would try" in r.stderr
        assert not (w.acct.home / "app").exists()
        # mapped by a hosts verify; then a clone whose URL says :22 cannot follow it
        verified = onboard_as(w.acct, "hosts", "verify", "corp", "--providers-file", str(w.pins), "--timeout", "2")
        assert verified.returncode == 0, verified.output
        c = onboard_as(w.acct, "clone", f"ssh://{w.acct.name}@{addr}:22{w.repo}", "--providers-file", str(w.pins),
                       "--dest", str(w.acct.home / "app22"), "--timeout", "2")
        assert f"names port 22: ssh's -p wins over the managed block's `Port {w.sshd.port}`" in c.stderr, c.output
        assert c.returncode != 0
