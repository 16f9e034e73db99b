"""Commit signing with the SSH key (setup/keygen --signing): real git and ssh-keygen sign and verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.run import onboard

PW = "signing passphrase 9"


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, start_new_session=True)


def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "f").write_text("x\n")
    git(path, "add", "f")
    return path


def keygen(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return onboard("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--signing", *args, env=env)


@pytest.fixture
def agent_socket(home: Path) -> Iterator[Path]:
    """The persistent agent's socket (onboard unlock's), started by hand; killed afterwards."""
    sock = home / ".ssh" / "agent" / "onboard.sock"
    sock.parent.mkdir(parents=True, mode=0o700)
    out = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        yield sock
    finally:
        os.kill(pid, 15)


def add_to_agent(sock: Path, key: Path) -> None:
    askpass = key.parent / "askpass"
    askpass.write_text(f"#!/bin/sh\necho '{PW}'\n")
    askpass.chmod(0o700)
    subprocess.run(["ssh-add", str(key)], check=True, capture_output=True, stdin=subprocess.DEVNULL,
                   env={**os.environ, "SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS": str(askpass),
                        "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"})
    askpass.unlink()


def test_keygen_signing_sets_git_up_and_a_commit_verifies(home: Path, tmp_path: Path) -> None:
    r = keygen("--no-passphrase", "--email", "me@example.com", "--json")
    assert r.returncode == 0, r.output
    doc = json.loads(r.stdout)["signing"]
    assert doc["written"] == ["gpg.format", "user.signingkey", "gpg.ssh.allowedSignersFile", "gpg.ssh.program",
                              "commit.gpgsign"]
    config = (home / ".gitconfig").read_text()
    assert "gpgsign = true" in config and "format = ssh" in config and "tag" not in config.lower().split("[gpg")[0]
    signers = (home / ".config" / "git" / "allowed_signers").read_text()
    public = " ".join((home / ".ssh" / "id_ed25519.pub").read_text().split()[:2])
    assert signers == f'me@example.com namespaces="git" {public}\n'
    path = repo(tmp_path)
    assert git(path, "commit", "-q", "-m", "signed").returncode == 0
    verified = git(path, "verify-commit", "HEAD")
    assert verified.returncode == 0, verified.stderr
    assert 'Good "git" signature for me@example.com' in verified.stderr
    # a plain tag stays a plain tag (no tag.gpgSign)
    assert git(path, "tag", "v1").returncode == 0


def test_a_rerun_changes_no_file(home: Path) -> None:
    assert keygen("--no-passphrase", "--email", "me@example.com").returncode == 0
    files = [home / ".gitconfig", home / ".config" / "git" / "allowed_signers", home / ".config" / "onboard" / "ssh-sign"]
    before = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}
    again = keygen("--email", "me@example.com", "--json")
    assert again.returncode == 0, again.output
    assert json.loads(again.stdout)["signing"]["written"] == []
    assert {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files} == before


def test_no_terminal_signs_through_the_persistent_agent_and_a_locked_key_says_unlock(
        home: Path, tmp_path: Path, agent_socket: Path) -> None:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--signing", "--email", "me@example.com",
                "--passphrase-env", "PW", env={"PW": PW})
    assert r.returncode == 0, r.output
    path = repo(tmp_path)
    locked = git(path, "commit", "-q", "-m", "locked", env={"SSH_AUTH_SOCK": ""})
    assert locked.returncode != 0
    assert "run 'onboard unlock'" in locked.stderr
    add_to_agent(agent_socket, home / ".ssh" / "id_ed25519")
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}  # as Jupyter's server or cron
    done = subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "from no terminal"], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert git(path, "verify-commit", "HEAD").returncode == 0


def test_from_a_terminal_the_passphrase_is_asked(home: Path, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--signing", "--email", "me@example.com",
                "--passphrase-env", "PW", env={"PW": PW})
    assert r.returncode == 0, r.output
    path = repo(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    child = pexpect.spawn("git", ["-C", str(path), "commit", "-q", "-m", "typed"], env=env, encoding="utf-8", timeout=60)
    child.expect("passphrase")
    child.sendline(PW)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert git(path, "verify-commit", "HEAD").returncode == 0


def test_existing_signing_settings_are_kept_all_or_nothing(home: Path) -> None:
    subprocess.run(["git", "config", "--global", "gpg.format", "openpgp"], check=True)
    subprocess.run(["git", "config", "--global", "user.signingkey", "ABCDEF12"], check=True)
    r = keygen("--no-passphrase", "--email", "me@example.com", "--json")
    assert r.returncode == 0, r.output
    doc = json.loads(r.stdout)["signing"]
    assert doc["written"] == [] and {k["key"] for k in doc["kept"]} == {"gpg.format", "user.signingkey"}
    assert "gpgsign" not in (home / ".gitconfig").read_text()  # never openpgp with signing switched on
    assert "--signing-overwrite" in r.stderr
    over = keygen("--email", "me@example.com", "--signing-overwrite")
    assert over.returncode == 0, over.output
    config = (home / ".gitconfig").read_text()
    assert "format = ssh" in config and "gpgsign = true" in config and "ABCDEF12" not in config


def test_an_existing_allowed_signers_file_elsewhere_is_appended_to(home: Path) -> None:
    mine = home / "signers"
    mine.write_text("friend@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    subprocess.run(["git", "config", "--global", "gpg.ssh.allowedSignersFile", str(mine)], check=True)
    assert keygen("--no-passphrase", "--email", "me@example.com").returncode == 0
    lines = mine.read_text().splitlines()
    assert lines[0].startswith("friend@example.com") and lines[1].startswith('me@example.com namespaces="git"')
    assert not (home / ".config" / "git" / "allowed_signers").exists()


def test_no_email_is_exit_2_naming_the_flag(home: Path) -> None:
    r = keygen("--no-passphrase")
    assert r.returncode == 2
    assert "--email" in r.stderr and "allowed_signers" in r.stderr
    config = home / ".gitconfig"
    assert "gpgsign" not in (config.read_text() if config.exists() else "")
    assert not (home / ".ssh" / "id_ed25519").exists()  # said before anything was made


def test_setup_signing_unattended_reports_it(home: Path) -> None:
    r = onboard("setup", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--no-passphrase", "--signing",
                "--email", "me@example.com", "--providers", "github", "--offline", "--json")
    assert r.returncode == 0, r.output
    assert json.loads(r.stdout)["signing"]["written"][-1] == "commit.gpgsign"
    assert sys.executable  # the real binary ran (helpers.run)


def test_doctor_checks_signing_round_trip_and_a_locked_key(home: Path, agent_socket: Path) -> None:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--signing", "--email", "me@example.com",
                "--passphrase-env", "PW", env={"PW": PW})
    assert r.returncode == 0, r.output

    def signing_check() -> dict[str, str]:
        ran = onboard("doctor", "--key-type", "ed25519", "--json", env={"SSH_AUTH_SOCK": ""})
        return next(c for c in json.loads(ran.stdout).get("checks", json.loads(ran.stdout).get("result", {}).get("checks", []))
                    if c["name"] == "signing")

    locked = signing_check()
    assert locked["status"] == "warn" and "onboard unlock" in locked["fix"]
    add_to_agent(agent_socket, home / ".ssh" / "id_ed25519")
    assert signing_check()["status"] == "pass"
    (home / ".config" / "git" / "allowed_signers").write_text("")
    broken = signing_check()
    assert broken["status"] == "fail" and "does not hold the signing key" in broken["detail"]


def test_doctor_says_nothing_of_signing_when_it_is_not_set_up(home: Path) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase").returncode == 0
    ran = onboard("doctor", "--key-type", "ed25519", "--json")
    doc = json.loads(ran.stdout)
    checks = doc.get("checks") or doc["result"]["checks"]
    assert "signing" not in {c["name"] for c in checks}
