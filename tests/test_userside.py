"""The user side of `--user` as root and as the member see it (issue #22): a new program, not a
copy of root, safe before it receives anything.

Root reads /proc of the user-side processes at a defined point of their run (while `ssh -G`,
which runs the member's `Match exec`, is held by a shim); a member's racing process tries
every way in while the user side starts, with fs.suid_dumpable=1; root holds supplementary
groups the account must not keep; the new interpreter cannot start, or cannot be reached by
the account at all. DESIGN.md, "Root acting for a user".
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.attacker import (
    AS_AN_ACCOUNT,
    CHECKOUT,
    Account,
    install_shims,
    onboard_as_root,
    root_file,
    spawn_as_user,
    start_onboard_as_root,
    stop,
)

pytestmark = AS_AN_ACCOUNT

PYTHON = os.path.realpath(sys.executable)
PASSPHRASE = "pp-Userside-8c2e4a"
TOKEN = "ghp_rootsUsersideTokenMustNotLeak3"
MSI = "msi-rootsIdentitySecretMustNotLeak5"
ROOT_ENV = {"ONBOARD_PASSPHRASE": PASSPHRASE, "GH_TOKEN": TOKEN, "GITHUB_TOKEN": TOKEN, "MSI_SECRET": MSI,
            "MSI_ENDPOINT": "http://127.0.0.1:9/msi", "SSH_AUTH_SOCK": "/tmp/roots-agent.invalid/sock",
            "ROOTS_OWN_SETTING": "root-only-value"}
# What the user side may be given: the documented allowlist (docs/security.md) and the account's own names.
ALLOWED = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "NO_COLOR", "TZ", "http_proxy", "https_proxy",
           "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR",
           "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "CI_NAME", "CI_LOCAL_UBUNTU_USER", "CI_RESOURCE_GROUP", "CI_WORKSPACE"}
PINS = ('[providers.local]\nhosts = ["[127.0.0.1]:2222"]\nuser = "git"\n'
        'keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]\n')




# -- /proc, read by root ---------------------------------------------------------------------------
def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _chain(start: int, stop_at: int) -> list[int]:
    """The processes between `start` (excluded) and its ancestor `stop_at` (excluded)."""
    found, pid = [], int(_status(start)["PPid"])
    while pid not in (stop_at, 0, 1):
        found.append(pid)
        pid = int(_status(pid)["PPid"])
    assert pid == stop_at, f"{start} does not descend from root's onboard {stop_at}"
    return found


def _fds(pid: int) -> dict[int, str]:
    base = Path(f"/proc/{pid}/fd")
    return {int(fd.name): os.readlink(fd) for fd in base.iterdir()}


def test_the_user_side_is_a_fresh_interpreter_with_stdio_and_the_allowlist_only(user: Account, vault: Path) -> None:
    """Was a fork of root: root's argv as its command line, root's original environment (tokens,
    passphrase, MSI_SECRET) in /proc/PID/environ, every descriptor root had open. Read while the
    user side waits on `ssh -G` (which runs the member's Match exec)."""
    pins = root_file(vault / "pins.toml", PINS)
    held = root_file(vault / "roots-open-file", "root's open file\n", mode=0o600)
    shims = install_shims(vault, pause=("ssh", "-G"))
    fd = os.open(held, os.O_RDONLY)  # a descriptor root holds while it runs onboard
    try:
        p = start_onboard_as_root(user, "hosts", "verify", "local", "--offline", "--providers-file", str(pins),
                                  env=ROOT_ENV, path_first=shims.bindir, pass_fds=[fd])
    finally:
        os.close(fd)
    try:
        deadline = time.monotonic() + 60
        while not shims.paused() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shims.paused(), f"ssh -G never ran:\n{p.communicate(timeout=60)[0].decode(errors='replace')}"
        paused = shims.paused()[0]
        sides = _chain(paused, p.pid)
        seen = {pid: (Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1],
                      Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")[:-1], _fds(pid), _status(pid))
                for pid in sides}
        held_by_ssh = set(_fds(paused).values())
    finally:
        shims.release()
        out = p.communicate(timeout=120)[0].decode(errors="replace")
    assert p.returncode == 0, out
    assert len(sides) == 2, f"expected the user side and its fork between root and ssh: {sides}"
    for pid, (argv, environ, fds, status) in seen.items():
        assert status["Uid"].split() == [str(user.uid)] * 4, (pid, status["Uid"])
        assert argv[1:3] == [b"-I", b"-c"] and b"userside" in argv[3], f"not a fresh isolated interpreter: {argv}"
        assert not {b"hosts", b"verify", b"--providers-file", b"--user"} & set(argv), f"root's argv reached it: {argv}"
        names = {item.partition(b"=")[0].decode() for item in environ}
        extra = {n for n in names if n not in ALLOWED and not n.startswith("LC_")}
        assert not extra, f"the user side's environment holds names outside the allowlist: {sorted(extra)}"
        blob = b"\0".join(environ)
        for secret in (PASSPHRASE, TOKEN, MSI, "root-only-value", "roots-agent"):
            assert secret.encode() not in blob, f"root's {secret!r} is in the user side's environment"
        assert dict(item.partition(b"=")[::2] for item in environ)[b"HOME"] == str(user.home).encode()
        assert str(held) not in fds.values(), f"root's open file reached the user side: {fds}"
        beyond_stdio = {fd: what for fd, what in fds.items() if fd > 2}
        # the fork holds only the pipes of the ssh it waits on; the process above it, nothing at all
        foreign = {fd: what for fd, what in beyond_stdio.items() if what not in held_by_ssh}
        assert not foreign, f"pid {pid} holds descriptors beyond stdio and its child's pipes: {foreign}"


def test_the_user_side_ends_with_exactly_the_accounts_groups(user: Account, vault: Path) -> None:
    """Root runs with supplementary groups of its own (disk, shadow): the user side and what it runs
    must hold exactly the account's groups (setgroups before the gid and uid change)."""
    pins = root_file(vault / "pins.toml", PINS)
    shims = install_shims(vault)
    extra = [g for g in (6, 42) if g not in os.getgrouplist(user.name, user.gid)]
    r = onboard_as_root(user, "hosts", "verify", "local", "--offline", "--providers-file", str(pins),
                        path_first=shims.bindir, prefix=["setpriv", f"--groups={','.join(map(str, extra))}", "--"])
    assert r.returncode == 0, r.output
    records = [rec for rec in shims.records() if rec["tool"] == "ssh"]
    assert records, f"the user side ran no ssh: nothing was checked\n{r.output}"
    for rec in records:
        assert (rec["uid"], rec["gid"]) == (user.uid, user.gid)
        assert sorted(set(rec["groups"])) == sorted(set(os.getgrouplist(user.name, user.gid))), (
            f"the user side holds groups {rec['groups']}, root held {extra} more")


# -- a member's process racing the start, with fs.suid_dumpable=1 ------------------------------------
_RACER = r"""
import ctypes, os, sys
loot, log, mode, needles = sys.argv[1], sys.argv[2], sys.argv[3], [n.encode() for n in sys.argv[4:]]
libc = ctypes.CDLL(None, use_errno=True)
me, base, seen, mems, stolen = os.getuid(), os.getpid(), set(), {}, []

def note(path, text):
    with open(path, "ab") as f:
        f.write(text + b"\n")

def look(what, data):
    for n in needles:
        if n in data:
            note(loot, what.encode() + b": " + n)

def attack(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return
    if b"onboard" not in cmd:
        return
    seen.add(pid)
    note(log, b"target " + pid.encode() + b" " + cmd.replace(b"\0", b" ")[:120])
    if mode == "trace" and libc.ptrace(0x4206, int(pid), 0, 0) == 0:  # PTRACE_SEIZE, and stay attached
        note(log, f"seized {pid}".encode())
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            look(f"environ {pid}", f.read())
        note(log, f"environ {pid}".encode())
    except OSError:
        pass
    try:
        mems[pid] = (os.open(f"/proc/{pid}/maps", os.O_RDONLY), os.open(f"/proc/{pid}/mem", os.O_RDONLY))
        note(log, f"mem {pid}".encode())
    except OSError:
        pass
    try:
        pidfd = os.pidfd_open(int(pid))
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if int(fd) < 3:
                continue  # stdio: root's output pipes here, which the test waits to see closed
            mine = libc.syscall(438, pidfd, int(fd), 0)  # pidfd_getfd
            if mine >= 0:
                os.set_blocking(mine, False)
                stolen.append(mine)
                note(log, f"getfd {pid} {fd}".encode())
    except OSError:
        pass

def drain():
    for pid, (maps, mem) in list(mems.items()):
        try:
            text = os.pread(maps, 1 << 20, 0).decode()
        except OSError:
            text = ""
        if not text:
            del mems[pid]
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) > 1 and parts[1].startswith("rw"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                try:
                    look(f"mem {pid}", os.pread(mem, hi - lo, lo))
                except OSError:
                    pass
    for fd in stolen:  # a pipe or a socket: read() takes whatever was sent to it
        try:
            look("stolen fd", os.read(fd, 1 << 20))
        except OSError:
            pass

while True:
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) > base and pid not in seen:
            try:
                if os.stat("/proc/" + pid).st_uid == me:
                    attack(pid)
            except OSError:
                pass
    drain()
"""


@pytest.fixture
def suid_dumpable() -> Iterator[None]:
    """fs.suid_dumpable=1 for the test (a change of ids then leaves a process dumpable), restored after.
    Machine-wide: the lock serialises the tests that change it (`-m alone` runs them by themselves)."""
    knob = Path("/proc/sys/fs/suid_dumpable")
    with open("/run/onboard-tests-suid-dumpable.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = knob.read_text().strip()
        knob.write_text("1\n")
        try:
            yield
        finally:
            knob.write_text(old + "\n")


@pytest.mark.alone
@pytest.mark.parametrize("mode", ["copy", "trace"])
def test_a_member_racing_the_start_reads_no_secret(user: Account, vault: Path, suid_dumpable: None,
                                                   mode: str) -> None:
    """With fs.suid_dumpable=1 a member's process polls for every new process of the account's and,
    as soon as it is the account's, reads /proc/PID/environ, opens /proc/PID/mem (reading it over
    and over), copies every descriptor with pidfd_getfd, and (trace) attaches with ptrace and stays.
    The fork of root lost this race: root's environment and memory were the account's for an
    instant. Now the user side is never within the member's reach: it starts as root, from exec,
    and is non-dumpable before its saved uid becomes the account's."""
    pw = root_file(vault / "pw", PASSPHRASE + "\n", mode=0o600)
    loot, log = user.home / "loot", user.home / "racer-log"
    racer = spawn_as_user(user, f"exec {PYTHON} -IS -c {_shquote(_RACER)} {loot} {log} {mode} "
                                f"{PASSPHRASE} {TOKEN} {MSI}")
    try:
        time.sleep(0.3)  # the racer is polling before root starts
        runs = [onboard_as_root(user, "keygen", "-y", "--force", "--key-type", "ed25519", "--kdf-rounds", "1",
                                "--passphrase-file", str(pw), env=ROOT_ENV) for _ in range(3)]
        time.sleep(0.5)  # a last look at whatever the racer still holds
    finally:
        stop(racer)
    stolen = loot.read_bytes() if loot.exists() else b""
    tried = log.read_text() if log.exists() else ""
    assert not stolen, f"the member read a secret: {stolen[:600]!r}\nit tried:\n{tried[-2000:]}"
    assert "target" in tried, "the racer never saw the user side start: nothing was tried"
    reached = [line for line in tried.splitlines() if line.split()[0] != "target"]
    assert not reached, "the member reached a process of the user side:\n" + "\n".join(reached[:20])
    for r in runs:
        assert r.returncode == 0, r.output


# -- a new interpreter that cannot start, or that the account cannot reach ----------------------------
def _venv(where: Path, base_python: str) -> Path:
    """A venv without pip, whose site-packages reaches the test run's own (onboard's dependencies)."""
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True)
    site = next(where.glob("lib/python3*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "paramiko").is_dir())
    root_file(site / "deps.pth", deps + "\n")
    return site


def test_a_user_side_that_dies_before_reporting_is_exit_2_with_one_json_document(user: Account,
                                                                                 vault: Path) -> None:
    """The new interpreter dies during its start (here a .pth line that kills isolated interpreters:
    what a broken or unreadable library does to it): root says so, exit 2, one JSON document."""
    site = _venv(vault / "venv", PYTHON)
    root_file(site / "zz-dies.pth", "import os, sys; sys.flags.isolated and (sys.stderr.write('cannot start\\n'), "
                                    "os._exit(7))\n")
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase", "--json",
                        interpreter=str(vault / "venv" / "bin" / "python"))
    assert r.returncode == 2, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 2
    assert "before it reported that it started" in doc["error"]["message"] and "code 7" in doc["error"]["message"]
    assert not (user.home / ".ssh" / "id_ed25519").exists()


def test_a_venv_whose_base_interpreter_the_account_cannot_reach_is_exit_2_naming_it(user: Account,
                                                                                    vault: Path) -> None:
    """A venv made from an interpreter under a folder only root may enter (pyenv under /root, mode
    0700): the account cannot run it. Was "unexpected ModuleNotFoundError"; now exit 2 naming the
    folder, with --json one document."""
    hidden = vault / "private"
    hidden.mkdir(mode=0o700)
    (hidden / "bin").symlink_to(Path(PYTHON).parent)
    _venv(vault / "venv", str(hidden / "bin" / Path(PYTHON).name))
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase", "--json",
                        interpreter=str(vault / "venv" / "bin" / "python"))
    assert r.returncode == 2, r.output
    doc = json.loads(r.stdout)
    assert f"{hidden} is not searchable by {user.name}" in doc["error"]["message"], doc
    assert not (user.home / ".ssh" / "id_ed25519").exists()


def test_a_checkout_the_account_cannot_read_is_exit_2_naming_it(user: Account, vault: Path) -> None:
    """onboard itself (the folder root imports it from) out of the account's reach: exit 2 naming it."""
    copy = vault / "private-checkout"
    copy.mkdir(mode=0o700)
    shutil.copytree(CHECKOUT / "onboarding", copy / "onboarding", ignore=shutil.ignore_patterns("__pycache__"))
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase",
                        env={"PYTHONPATH": str(copy)})
    assert r.returncode == 2, r.output
    assert f"{copy} is not readable and searchable by {user.name}" in r.output, r.output


def _shquote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
