"""The wizard on a real pseudo-terminal (pexpect), against the real sshd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from conftest import Sshd

PW = "wizard passphrase 7"
DOWN, ENTER = "\x1b[B", "\r"


def spawn(*args: str) -> pexpect.spawn:
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "onboarding", *args], env=env, encoding="utf-8",
                          timeout=60, dimensions=(40, 160))
    child.logfile_read = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the child
    return child


@pytest.mark.sshd
def test_wizard_happy_path_with_passphrase_mismatch(sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    child = spawn("--providers-file", str(pins), "--providers", "local")
    child.expect("Email for the key comment")
    child.sendline("wiz@example.com")
    child.expect("Key type")
    child.send(DOWN)  # RSA is preselected; take Ed25519 here to keep the test fast
    child.send(ENTER)
    child.expect("Passphrase for the new key")
    child.sendline(PW)
    child.expect("Same passphrase again")
    child.sendline("something else")
    child.expect("differ")
    child.expect("Passphrase for the new key")
    child.sendline(PW)
    child.expect("Same passphrase again")
    child.sendline(PW)
    child.expect("copy the whole line")
    child.expect("Ctrl-Insert")
    child.expect("Press enter once the key is added")
    pub = home / ".ssh" / "id_ed25519.pub"
    assert pub.read_text().rstrip().endswith("wiz@example.com")
    sshd.authorize(pub)  # the user pastes the key at the provider
    child.send(ENTER)
    child.expect("match the pins")
    child.expect("Test the connection now")
    child.send("y")
    child.expect("accepts the key")  # passed: not asked again, straight to the repositories
    child.expect("repository to clone")
    child.sendline(sshd.url(bare_repo))
    child.expect("repository to clone")
    child.sendline("")
    child.expect("Where should they go")
    child.send(ENTER)  # local disk
    child.expect("Summary")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert (home / bare_repo[:-4] / "README.md").exists()
    check = subprocess.run(["ssh-keygen", "-y", "-P", PW, "-f", str(home / ".ssh" / "id_ed25519")],
                           capture_output=True)
    assert check.returncode == 0


def test_ctrl_c_mid_way_exits_130_and_leaves_nothing(home: Path) -> None:
    child = spawn("setup", "--key-type", "ed25519", "--email", "x@example.com")
    child.expect("Passphrase for the new key")
    child.sendline(PW)
    child.expect("Same passphrase again")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130 or child.signalstatus is not None
    assert child.exitstatus == 130
    ssh = home / ".ssh"
    assert not ssh.exists() or list(ssh.iterdir()) == []


def test_ctrl_c_after_the_key_leaves_a_complete_key(home: Path) -> None:
    # --key-type answers "Key type": not asked
    child = spawn("setup", "--key-type", "ed25519", "--email", "x@example.com", "--providers", "github")
    child.expect("Passphrase for the new key")
    child.sendline(PW)
    child.expect("Same passphrase again")
    child.sendline(PW)
    child.expect("Press enter once the key is added")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    names = sorted(p.name for p in (home / ".ssh").iterdir())
    assert names == ["id_ed25519", "id_ed25519.pub"]  # no temp files, no known_hosts half-written
    check = subprocess.run(["ssh-keygen", "-y", "-P", PW, "-f", str(home / ".ssh" / "id_ed25519")],
                           capture_output=True)
    assert check.returncode == 0


def test_keygen_asks_the_passphrase_twice_on_a_terminal(home: Path) -> None:
    child = spawn("keygen", "--key-type", "ed25519")
    child.expect("Passphrase for the new key")
    child.sendline("abc")
    child.expect("too short")
    child.expect("Passphrase for the new key")
    child.sendline(PW)
    child.expect("Same passphrase again")
    child.sendline(PW)
    child.expect("Fingerprint")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    out = child.before or ""
    assert PW not in out


@pytest.mark.sshd
def test_clone_on_a_terminal_asks_about_an_unknown_host_and_ssh_asks_the_passphrase(
        sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    key = home / ".ssh" / "id_ed25519"
    r = subprocess.run([sys.executable, "-m", "onboarding", "keygen", "-y", "--key-type", "ed25519",
                        "--passphrase-file", str(pw)], capture_output=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    sshd.authorize(Path(str(key) + ".pub"))
    from onboarding.keys import fingerprint_of_line

    child = spawn("clone", sshd.url(bare_repo), "--key-type", "ed25519", "--dest", str(tmp_path / "c"))
    child.expect("is not a pinned provider")
    child.expect(fingerprint_of_line(sshd.public_key("ed25519")).replace("+", r"\+"))
    child.expect("Trust")
    child.send("y")
    child.expect("Enter passphrase for key")  # ssh itself asks, on the terminal
    child.sendline(PW)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert (tmp_path / "c" / "README.md").exists()
    assert f"[127.0.0.1]:{sshd.port}" in (home / ".ssh" / "known_hosts").read_text()


def test_wizard_offers_upload_when_a_token_is_set(home: Path, tmp_path: Path) -> None:
    import threading
    from http.server import ThreadingHTTPServer

    from test_upload import GOOD, FakeApis, make_handler

    fake = FakeApis(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        os.environ["GH_TOKEN"] = GOOD
        child = spawn("--providers", "github", "--offline", "--key-type", "ed25519", "--email", "w@example.com",
                      "--no-passphrase", "--github-api", fake.github)
        child.expect("Key type")
        child.send(DOWN)
        child.send(ENTER)
        child.expect("GH_TOKEN is set: register the key with GitHub now")
        child.send("y")
        child.expect("added")
        child.expect("Test the connection now")
        child.send("n")
        child.expect("repository to clone")
        child.sendline("")
        child.expect(pexpect.EOF)
        child.close()
    finally:
        os.environ.pop("GH_TOKEN", None)
        server.shutdown()
    assert child.exitstatus == 0, child.before
    assert len(fake.keys["github"]) == 1 and GOOD not in (child.before or "")
