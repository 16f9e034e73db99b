"""The wizard on a real pseudo-terminal (pexpect), against the real sshd."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from helpers.sshd import Sshd

PW = "wizard passphrase 7"
DOWN, ENTER = "\x1b[B", "\r"


def spawn(*args: str) -> pexpect.spawn:
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "onboarding", *args], env=env, encoding="utf-8",
                          timeout=60, dimensions=(40, 160))
    child.logfile_read = open(os.environ.get("WIZARD_LOG", os.devnull), "a")  # noqa: SIM115 - lives as long as the child
    return child


@pytest.mark.sshd
def test_wizard_happy_path_with_passphrase_mismatch(sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    child = spawn("--providers-file", str(pins), "--providers", "local")
    child.expect("Key type")
    child.send(DOWN)  # RSA is preselected; take Ed25519 here to keep the test fast
    child.send(ENTER)
    child.expect("Email for the key comment")
    child.sendline("wiz@example.com")
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
    child.expect("Press any key once the key is added")
    pub = home / ".ssh" / "id_ed25519.pub"
    assert pub.read_text().rstrip().endswith("wiz@example.com")
    sshd.authorize(pub)  # the user pastes the key at the provider
    child.send(ENTER)
    child.expect("match the pins")
    child.expect("Test the connection now")
    child.send("y")
    child.expect("accepts the key")  # passed: not asked again
    child.expect("Your name for git commits")
    child.sendline("Wiz Ard")
    child.expect("Email for git commits")
    child.sendline("")  # the key's email is the default
    child.expect("user.email set to 'wiz@example.com'")
    child.expect("repository to clone")
    child.sendline(sshd.url(bare_repo))
    child.expect("repository to clone")
    child.sendline("")
    child.expect("Clone to")
    child.send(ENTER)  # local disk
    child.expect("Keep the key unlocked until the instance stops")  # asked for a key with a passphrase
    child.send("n")
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
    child.expect("Passphrase for the new key")  # --key-type answered the key type
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
    child.expect("Press any key once the key is added")
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

    from helpers.fake_apis import GOOD, FakeApis, make_handler

    fake = FakeApis(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        os.environ["GH_TOKEN"] = GOOD
        child = spawn("--providers", "github", "--offline", "--key-type", "ed25519", "--email", "w@example.com",
                      "--no-passphrase", "--github-api", fake.url("github"))
        child.expect("GH_TOKEN is set: register the key with GitHub now")
        child.send("y")
        child.expect("added")
        child.expect("Test the connection now")
        child.send("n")
        child.expect("Your name for git commits")
        child.sendline("")
        child.expect("repository to clone")
        child.sendline("")
        child.expect(pexpect.EOF)
        child.close()
    finally:
        os.environ.pop("GH_TOKEN", None)
        server.shutdown()
    assert child.exitstatus == 0, child.before
    assert len(fake.keys["github"]) == 1 and GOOD not in (child.before or "")


def spawn80(*args: str) -> tuple[pexpect.spawn, io.StringIO]:
    """The real binary on an 80-column terminal; returns the child and everything it printed."""
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "onboarding", *args], env=env, encoding="utf-8",
                          timeout=60, dimensions=(40, 80))
    seen = io.StringIO()
    child.logfile_read = seen
    return child, seen


def plain(text: str) -> str:
    """Screen text without escape sequences, whitespace collapsed (wrapping aside)."""
    return " ".join(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).split())


@pytest.mark.sshd
def test_target_choice_is_readable_at_80_columns_and_the_cloudfiles_folder_is_asked(
        sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    from onboarding.clone import TRADE_OFF

    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    users = home / "cloudfiles" / "code" / "Users"
    (users / "alice.smith").mkdir(parents=True)
    (users / "bob.jones").mkdir()
    child, seen = spawn80("--providers-file", str(pins), "--providers", "local", "--offline", "--key-type", "ed25519",
                          "--no-passphrase", "--email", "b@example.com", "--git-name", "Bob Jones",
                          "--repo", sshd.url(bare_repo))
    child.expect("Press any key once the key is added")
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    child.send(ENTER)  # no connection test: the clone that follows tests the key (and says the fix)
    child.expect("Clone to")
    child.send(DOWN)
    child.send(ENTER)
    child.expect("Which folder under")
    child.send(DOWN)  # alice.smith, bob.jones: the second is mine
    child.send(ENTER)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    screen = plain(seen.getvalue())
    assert TRADE_OFF["local"] in screen and TRADE_OFF["cloudfiles"] in screen  # whole, not cut at the edge
    assert "local disk: fast, but lost if the instance is deleted" in screen
    assert "cloudfiles share: kept and shared, but slower" in screen
    assert (users / "bob.jones" / bare_repo[:-4] / "README.md").exists()
    assert sorted(p.name for p in users.iterdir()) == ["alice.smith", "bob.jones"]  # no guessed login folder


def test_newcomer_without_network_ends_with_the_key_the_pins_and_what_is_left(home: Path, tmp_path: Path) -> None:
    from helpers.sshd import free_port

    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    pins = tmp_path / "pins.toml"  # a pinned provider whose server is down (nothing leaves loopback)
    pins.write_text(f'[providers.corp]\nhosts = ["[127.0.0.1]:{free_port()}"]\nkeys = ["{key}"]\n'
                    'add_key_url = "https://git.corp.example/keys"\n')
    child, seen = spawn80("--providers-file", str(pins), "--providers", "corp", "--timeout", "3")
    child.expect("Key type")
    child.send(ENTER)  # RSA, generated while the questions are answered
    child.expect("Email for the key comment")
    child.sendline("new@example.com")
    child.expect("Passphrase for the new key")
    child.sendline(PW)
    child.expect("Same passphrase again")
    child.sendline(PW)
    child.expect("Press any key once the key is added")
    child.send(ENTER)
    child.expect("Write the pinned host keys now and go on")
    child.send("y")
    child.expect("Your name for git commits")
    child.sendline("New Comer")
    child.expect("Email for git commits")
    child.sendline("")  # Enter: the key's email
    child.expect("repository to clone")
    child.sendline("")
    child.expect("Keep the key unlocked until the instance stops")
    child.send("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    screen = plain(seen.getvalue())
    assert "Test the connection now" not in screen  # no network: not offered
    assert "What is left:" in screen and "onboard hosts verify corp" in screen
    assert key in (home / ".ssh" / "known_hosts").read_text()
    check = subprocess.run(["ssh-keygen", "-y", "-P", PW, "-f", str(home / ".ssh" / "id_rsa")], capture_output=True)
    assert check.returncode == 0
    assert "new@example.com" in (home / ".gitconfig").read_text()


@pytest.mark.sshd
def test_existing_key_reuse_answers_and_one_retry_of_the_connection_test(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    made = subprocess.run([sys.executable, "-m", "onboarding", "keygen", "-y", "--key-type", "ed25519",
                           "--passphrase-file", str(pw), "--email", "old@example.com"],
                          capture_output=True, stdin=subprocess.DEVNULL)
    assert made.returncode == 0
    before = (home / ".ssh" / "id_ed25519").read_bytes()
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    child, seen = spawn80("--providers-file", str(pins), "--providers", "local", "--key-type", "ed25519")
    child.expect("exists. Reuse it")
    child.send("n")
    child.expect("Replace it")
    child.send("n")
    child.expect("needs one of the two")  # never a silent reuse: asked again
    child.expect("exists. Reuse it")
    child.send("y")
    child.expect("Passphrase of your existing key")
    child.sendline("")
    child.expect("protected by a passphrase: type it")
    child.expect("Passphrase of your existing key")
    child.sendline("wrong passphrase")
    child.expect("does not open")
    child.expect("Passphrase of your existing key")
    child.sendline(PW)
    child.expect("key reused")
    child.expect("Press any key once the key is added")
    child.send(ENTER)
    child.expect("Test the connection now")
    child.send("y")
    child.expect("Try again")  # refused: the key is not registered yet
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    child.send("y")
    child.expect("accepts the key")
    child.expect("Your name for git commits")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    screen = plain(seen.getvalue())
    assert "Email for the key comment" not in screen  # a reused key keeps its comment
    assert "too short" not in screen
    assert screen.count("Test the connection now (ssh -T)? (Y/n)") == 1  # asked once; then one retry offer
    assert (home / ".ssh" / "id_ed25519").read_bytes() == before


def test_prose_is_wrapped_at_word_boundaries_on_an_80_column_compute_instance(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A terminal cuts a longer line at its edge, mid-word ("Wind" / "ows"): onboard wraps its prose itself.
    monkeypatch.setenv("CI_NAME", "ci-demo")
    monkeypatch.setenv("CI_LOCAL_UBUNTU_USER", "azureuser")
    (home / "cloudfiles" / "code" / "Users" / "alice").mkdir(parents=True)
    child, seen = spawn80("--key-type", "ed25519", "--no-passphrase", "--email", "a@example.com",
                          "--providers", "github")
    child.expect("Press any key once the key is added")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.getvalue()).replace("\r", "").splitlines()
    prose = [ln for ln in lines if any(w in ln for w in ("compute instance", "Ctrl-", "Cmd-", "stop/start"))]
    assert len(prose) >= 4, lines
    assert all(len(ln) <= 80 for ln in prose), prose
    assert "Ctrl-Shift-V pastes" in plain(seen.getvalue())  # the whole help, in order
    assert "cloudfiles/code/Users/<you>" in plain(seen.getvalue())


def test_what_is_left_is_wrapped_at_80_columns(home: Path) -> None:
    child, seen = spawn80("--key-type", "ed25519", "--no-passphrase", "--email", "a@example.com",
                          "--providers", "github", "--offline", "--git-name", "A")
    child.expect("Press any key once the key is added")
    child.send(ENTER)
    child.expect("Test the connection now")
    child.send("n")
    child.expect("repository to clone")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.getvalue()).replace("\r", "")
    left = text.split("What is left:", 1)[1].splitlines()[1:]
    assert len(left) >= 3 and left[0].startswith("  1. ")
    assert all(len(ln) <= 80 or " " not in ln.strip() for ln in left), left  # a long path stays whole
    assert "`onboard doctor --auth-test`" in plain(text)  # a command is never split


def test_keep_unlocked_is_asked_with_its_trade_off_and_the_summary_says_who_reaches_the_key(home: Path) -> None:
    from helpers.dayagent import agents_of

    before = set(agents_of(os.getuid()))
    child, seen = spawn80("--key-type", "ed25519", "--kdf-rounds", "2", "--email", "a@example.com",
                          "--providers", "github", "--offline", "--git-name", "A")
    try:
        child.expect("Passphrase for the new key")
        child.sendline(PW)
        child.expect("Same passphrase again")
        child.sendline(PW)
        child.expect("Press any key once the key is added")
        child.send(ENTER)
        child.expect("Test the connection now")
        child.send("n")
        child.expect("repository to clone")
        child.sendline("")
        child.expect("Keep the key unlocked until the instance stops")
        child.send("y")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        screen = plain(seen.getvalue())
        assert "every process running as you, and root, can use it" in screen  # the trade-off, in one sentence
        assert "Who reaches the key now" in screen and "cron" in screen
        assert "onboard.sock" in (home / ".ssh" / "config").read_text()
        assert PW not in seen.getvalue()
    finally:
        for pid in set(agents_of(os.getuid())) - before:
            if str(home).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, 9)


# --- a newcomer at 80 columns (issue: the first hour) --------------------------------------------

def _long_lines(seen: io.StringIO) -> list[str]:
    """Printed lines wider than 80 columns that have a space to break at (a lone link may be wider),
    up to the pause (whose redraws by prompt_toolkit are cursor moves, not lines)."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.getvalue().split("Press any key", 1)[0]).replace("\r", "\n")  # a redraw is a new line
    # A line naming a path under the test's own long temporary home may be wider (a path is never cut).
    # The public key is one line on purpose (it is copied whole).
    return [ln for ln in text.splitlines()
            if len(ln) > 80 and " " in ln.strip() and "/pytest-" not in ln and not ln.startswith(("ssh-rsa ", "ssh-ed25519 "))]


def test_key_type_choices_are_whole_and_paste_texts_wrapped_at_80_columns(home: Path) -> None:
    child, seen = spawn80("--no-passphrase", "--email", "a@example.com", "--providers", "github,azure-devops",
                          "--offline")
    child.expect("Key type")
    child.expect("Ed25519")
    child.send(ENTER)
    child.expect("Press any key once the key is added")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    screen = plain(seen.getvalue())
    assert "RSA 4096 (recommended)" in screen and "Ed25519 (not for Azure DevOps)" in screen  # brackets closed
    assert "Azure DevOps accepts only RSA keys" in screen  # the reason, printed before the choice
    assert _long_lines(seen) == []


def test_hosts_list_fits_80_columns() -> None:
    done = subprocess.run([sys.executable, "-m", "onboarding", "hosts", "list"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [ln for ln in lines if len(ln) > 80 and " " in ln.strip()] == []
    assert "    ssh-ed25519          SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU" in lines
    assert "github (GitHub): github.com, [ssh.github.com]:443" in lines


def test_no_provider_chosen_is_asked_again_not_taken_as_github(home: Path) -> None:
    child, seen = spawn80("--key-type", "ed25519", "--no-passphrase", "--email", "a@example.com", "--offline")
    child.expect("Where do your repositories live")
    child.send(" ")  # GitHub was preselected: now nothing is
    child.send(ENTER)
    child.expect("Choose at least one")
    child.expect("Where do your repositories live")
    child.send(DOWN)  # GitLab
    child.send(" ")
    child.send(ENTER)
    child.expect("Press any key once the key is added")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    screen = plain(seen.getvalue())
    assert "gitlab.com" in screen.split("Choose at least one", 1)[1]
    assert "GitHub: open" not in screen


def test_user_at_host_is_never_offered_as_the_git_email(home: Path) -> None:
    import getpass
    import socket

    child, _seen = spawn80("--key-type", "ed25519", "--no-passphrase", "--providers", "github", "--offline",
                          "--git-name", "A")
    child.expect("Email for the key comment")
    child.sendline("")  # Enter: user@host, fine for a key comment
    child.expect("Press any key once the key is added")
    child.send(ENTER)
    child.expect("Test the connection now")
    child.send("n")
    child.expect(r"Email for git commits \(user.email\) \((.*?)\):")
    offered = child.match.group(1)
    child.sendline("")
    child.expect("repository to clone")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()
    assert offered == "Enter to skip", offered
    assert f"{getpass.getuser()}@{socket.gethostname()}" in (home / ".ssh" / "id_ed25519.pub").read_text()
    assert "email" not in (home / ".gitconfig").read_text() if (home / ".gitconfig").exists() else True


def test_a_rerun_finds_the_existing_key_before_asking_its_type(home: Path) -> None:
    made = subprocess.run([sys.executable, "-m", "onboarding", "keygen", "-y", "--key-type", "ed25519",
                           "--no-passphrase", "--email", "old@example.com"], capture_output=True, stdin=subprocess.DEVNULL)
    assert made.returncode == 0
    child, seen = spawn80("--providers", "github", "--offline")
    child.expect("exists. Reuse it")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert "Key type" not in plain(seen.getvalue())


def test_a_team_file_target_without_the_share_is_said_before_any_question(home: Path, tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text('[setup]\ntarget = "cloudfiles"\nproviders = ["github"]\nrepos = ["git@github.com:org/app.git"]\n')
    child, seen = spawn80("--config", str(team), "--offline")
    child.expect("Clone to the local disk instead")
    before = plain(seen.getvalue())
    assert "sends the clones to the cloudfiles share, but nothing is mounted" in before
    assert "Key type" not in before and "Email for the key comment" not in before  # nothing asked yet
    child.send("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert not (home / ".ssh").exists()


def test_no_to_writing_the_pinned_keys_says_what_is_left(home: Path, tmp_path: Path) -> None:
    from helpers.sshd import free_port

    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    pins = tmp_path / "pins.toml"
    pins.write_text(f'[providers.corp]\nhosts = ["[127.0.0.1]:{free_port()}"]\nkeys = ["{key}"]\n')
    child, seen = spawn80("--providers-file", str(pins), "--providers", "corp", "--timeout", "3",
                          "--key-type", "ed25519", "--no-passphrase", "--email", "a@example.com")
    child.expect("Press any key once the key is added")
    child.send(ENTER)
    child.expect("Write the pinned host keys now and go on")
    child.send("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4
    screen = plain(seen.getvalue())
    assert "What is left: known_hosts was not changed and nothing was cloned" in screen
    assert "onboard hosts verify" in screen
    assert not (home / ".ssh" / "known_hosts").exists()
