"""The attacker's kit for `--user` tests: a real unprivileged account, root-owned decoys,
files planted by the user's own processes, PATH shims that record what they were given.

Root runs `onboard ... --user NAME` as a setup script would; the account controls its home
and plants symlinks, ssh configs and hooks there. A test then proves the root-owned decoy
is byte-identical and still root's, and that nothing ran as uid 0 with the user's config.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpers.run import Result

# The checkout these tests belong to: the user-side process must import this package.
CHECKOUT = Path(__file__).resolve().parents[2]
# Where the real tools live; root's own PATH may hold directories the user cannot enter.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: Path


Run = Result  # what a command run as the account printed: the same record as helpers.run's

# The marks of every test module that plays a real unprivileged account against root.
AS_AN_ACCOUNT = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"),
                       reason="needs root, useradd and setpriv to play a real unprivileged account"),
]


# -- places only root can change ----------------------------------------------------------
def _root_safe(path: Path) -> bool:
    """Every directory from / down to `path` is root-owned and not group/world writable."""
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            return False
    return True


def root_safe_dir(prefix: str) -> Path:
    """A fresh 0755 root-owned directory whose whole ancestry only root can change.

    /tmp does not qualify (world-writable), so inputs root reads (passphrase, pins, team
    file) and the decoys live under /run or /var/lib instead.
    """
    for parent in (Path("/run"), Path("/var/lib"), Path("/var/cache"), Path("/usr/local/share")):
        if parent.is_dir() and os.access(parent, os.W_OK) and _root_safe(parent):
            d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            d.chmod(0o755)
            return d
    raise RuntimeError("no root-owned, non-writable directory to put root's inputs in")


def root_file(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text)
    os.chown(path, 0, 0)
    path.chmod(mode)
    return path


# -- the account ----------------------------------------------------------------------------
def create_account(base: Path) -> Account:
    """useradd a throwaway account whose home (0755, its own) is under `base`."""
    name = f"atk{os.getpid() % 10000}{time.monotonic_ns() % 100000}"
    home = base / name
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    home.mkdir(mode=0o755)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return Account(name, entry.pw_uid, entry.pw_gid, home)


def delete_account(acct: Account) -> None:
    subprocess.run(["userdel", acct.name], check=False, capture_output=True)


def user_env(acct: Account, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"HOME": str(acct.home), "USER": acct.name, "LOGNAME": acct.name, "PATH": SYSTEM_PATH,
            "LANG": "C.UTF-8", **(extra or {})}


def _as_user_argv(acct: Account, argv: Sequence[str]) -> list[str]:
    return ["setpriv", f"--reuid={acct.uid}", f"--regid={acct.gid}", "--init-groups", *argv]


def as_user(acct: Account, script: str, *, timeout: float = 60) -> Run:
    """Run a shell script as the account (its own process, so what it creates is its own)."""
    p = subprocess.run(_as_user_argv(acct, ["/bin/sh", "-ec", script]), env=user_env(acct), cwd=acct.home,
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    run = Run(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
    assert run.returncode == 0, f"planting as {acct.name} failed: {run.output}"
    return run


def spawn_as_user(acct: Account, script: str) -> subprocess.Popen[bytes]:
    """A background process of the account's (a racer); stop it with stop()."""
    return subprocess.Popen(_as_user_argv(acct, ["/bin/sh", "-c", script]), env=user_env(acct), cwd=acct.home,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)


def _root_argv_env(acct: Account, args: Sequence[str], env: Mapping[str, str] | None, path_first: Path | None,
                   interpreter: str | None, prefix: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    full = dict(os.environ)
    full["PYTHONPATH"] = str(CHECKOUT)
    if path_first is not None:
        full["PATH"] = f"{path_first}:{full.get('PATH', SYSTEM_PATH)}"
    full.update(env or {})
    return [*prefix, interpreter or sys.executable, "-m", "onboarding", *args, "--user", acct.name], full


def onboard_as_root(acct: Account, *args: str, env: Mapping[str, str] | None = None,
                    path_first: Path | None = None, interpreter: str | None = None,
                    prefix: Sequence[str] = (), timeout: float = 180, cwd: Path = Path("/")) -> Run:
    """Root runs `python -m onboarding ARGS --user NAME`, as a setup script on the instance does
    (in `cwd`: a setup script's own directory, say)."""
    argv, full = _root_argv_env(acct, args, env, path_first, interpreter, prefix)
    p = subprocess.run(argv, env=full, cwd=cwd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def onboard_as_member(acct: Account, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180) -> Run:
    """The account runs `python -m onboarding ARGS` itself (no --user), in its home."""
    full = {**user_env(acct, env), "PYTHONPATH": str(CHECKOUT)}
    p = subprocess.run(_as_user_argv(acct, [os.path.realpath(sys.executable), "-m", "onboarding", *args]), env=full,
                       cwd=acct.home, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def start_onboard_as_root(acct: Account, *args: str, env: Mapping[str, str] | None = None,
                          path_first: Path | None = None, prefix: Sequence[str] = (),
                          pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    """The same, in the background (stdout and stderr together); `pass_fds`: descriptors root holds."""
    argv, full = _root_argv_env(acct, args, env, path_first, None, prefix)
    return subprocess.Popen(argv, env=full, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, pass_fds=tuple(pass_fds))


# -- the victim -------------------------------------------------------------------------------
Snapshot = dict[str, tuple[Any, ...]]


def make_decoy(parent: Path, name: str, files: Mapping[str, str] | None = None) -> Path:
    """A root-owned directory (0755) of root-owned files (0644) outside the user's home."""
    d = parent / name
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    for rel, text in (files or {"precious.conf": f"root's data {name}\n", "sub/keep.txt": "keep me\n"}).items():
        f = d / rel
        f.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        root_file(f, text)
    return d


def snapshot(path: Path) -> Snapshot:
    """Type, owner, mode and content hash (or link target) of path and everything under it."""
    out: Snapshot = {}
    entries = [path, *sorted(path.rglob("*"))] if path.is_dir() and not path.is_symlink() else [path]
    for p in entries:
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            what: str = "link:" + os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            what = "dir" if stat.S_ISDIR(st.st_mode) else "other"
        out[str(p)] = (what, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    return out


def assert_untouched(before: Snapshot, after: Snapshot, run: Run | None = None) -> None:
    if before == after:
        return
    lines = []
    for p in sorted(set(before) | set(after)):
        if p not in after:
            lines.append(f"DELETED  {p}")
        elif p not in before:
            lines.append(f"CREATED  {p} {after[p]}")
        elif before[p] != after[p]:
            lines.append(f"CHANGED  {p}: {before[p]} -> {after[p]}")
    if len(lines) > 12:
        lines = [*lines[:12], f"... and {len(lines) - 12} more"]
    tail = f"\n--- onboard said (exit {run.returncode}):\n{run.output[-3000:]}" if run else ""
    raise AssertionError("root's decoy was damaged by a run for the user:\n" + "\n".join(lines) + tail)


def root_owned_in(home: Path) -> list[str]:
    """Entries in the user's home (symlinks not followed) that belong to root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(home, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if st.st_uid == 0 or st.st_gid == 0:
                found.append(f"{p} (uid {st.st_uid}, gid {st.st_gid})")
    return found


_UID = re.compile(r"uid=(\d+)")


def marker_uids(path: Path) -> list[int]:
    """uids that `id` wrote into a marker file (empty when the marker was never written)."""
    if not path.exists():
        return []
    return [int(u) for u in _UID.findall(path.read_text(errors="replace"))]


def assert_ran_as(acct: Account, *markers: Path) -> None:
    """A marker the user's config wrote by `id` may exist, but only with the user's uid."""
    for m in markers:
        uids = marker_uids(m)
        assert 0 not in uids, f"the user's configuration ran as root (uid=0): {m}: {m.read_text()!r}"
        assert set(uids) <= {acct.uid}, f"{m} was written by uids {uids}, not only {acct.uid}"


# -- PATH shims ----------------------------------------------------------------------------
_SHIM = r'''#!{python} -IS
# Test shim: record what this {tool} was given, then become the real one.
import json, os, sys, time
REAL, LOG, TOOL, PAUSE = {real!r}, {log!r}, {tool!r}, {pause!r}


def ancestors():
    out, pid = [], os.getppid()
    while pid > 1:
        try:
            with open(f"/proc/{{pid}}/status") as f:
                fields = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
            with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            owner = os.stat(f"/proc/{{pid}}/status").st_uid
        except (OSError, KeyError):
            break
        out.append({{"pid": pid, "uid": int(fields["Uid"].split()[0]), "cmdline": cmd, "proc_owner": owner}})
        pid = int(fields["PPid"])
    return out


record = {{"tool": TOOL, "argv": sys.argv, "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
          "groups": os.getgroups(), "env": dict(os.environ), "ancestors": ancestors()}}
name = os.path.join(LOG, f"{{TOOL}}-{{os.getpid()}}-{{time.time_ns()}}.json")
fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
with os.fdopen(fd, "w") as f:
    json.dump(record, f)
if PAUSE and PAUSE[0] == TOOL and PAUSE[1] in sys.argv:
    # Hold the run here until the test has looked at the process tree.
    open(os.path.join(LOG, f"paused-{{os.getpid()}}"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(LOG, "go")) and time.monotonic() < deadline:
        time.sleep(0.02)
os.execv(REAL, [TOOL, *sys.argv[1:]])
'''


@dataclass
class Shims:
    bindir: Path
    logdir: Path
    tools: tuple[str, ...] = ("git", "ssh", "ssh-agent", "ssh-keygen", "ssh-add")

    def records(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.logdir.glob("*.json")):
            out.append(json.loads(p.read_text()))
        return out

    def paused(self) -> list[int]:
        return [int(p.name.split("-")[1]) for p in self.logdir.glob("paused-*")]

    def release(self) -> None:
        root_file(self.logdir / "go", "")


def install_shims(vault: Path, pause: tuple[str, str] | None = None) -> Shims:
    """Shims for git and the OpenSSH tools in a root-owned bin dir; their log dir is 1777."""
    shims = Shims(vault / "shim-bin", vault / "shim-log")
    shims.bindir.mkdir(mode=0o755)
    shims.logdir.mkdir()
    shims.logdir.chmod(0o1777)
    python = os.path.realpath(sys.executable)
    for tool in shims.tools:
        real = shutil.which(tool, path=SYSTEM_PATH)
        if real is None:
            continue
        f = shims.bindir / tool
        f.write_text(_SHIM.format(python=python, tool=tool, real=real, log=str(shims.logdir), pause=pause))
        f.chmod(0o755)
    return shims


def leaks(records: Sequence[Mapping[str, Any]], secrets: Sequence[str]) -> list[str]:
    """Every place a secret shows in a recorded argv or environment."""
    found = []
    for r in records:
        for secret in secrets:
            for i, a in enumerate(r["argv"]):
                if secret in a:
                    found.append(f"{r['tool']} argv[{i}] holds {secret!r}: {r['argv']}")
            for k, v in r["env"].items():
                if secret in v or secret in k:
                    found.append(f"{r['tool']} (uid {r['uid']}) environment {k}={v!r} holds {secret!r}")
    return found


# -- a recording stand-in for the GitHub API ------------------------------------------------
@dataclass
class Recorder:
    port: int = 0
    bodies: list[bytes] = field(default_factory=list)

    @property
    def github(self) -> str:
        return f"http://127.0.0.1:{self.port}/gh"


def serve_recorder() -> Iterator[Recorder]:
    """Answers GET /user/keys with [] and POST with 201; keeps every request body."""
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            rec.bodies.append(self.path.encode())
            self._answer(200, [])

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.bodies.append(body)
            self._answer(201, {"id": 1, "key": "x", "title": "t"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


# -- root's terminal -------------------------------------------------------------------------
@dataclass
class TtyRun:
    returncode: int
    output: str  # what the terminal showed (stdout and stderr together)
    pending_input: bytes  # what root's shell would read from the terminal next


def onboard_as_root_on_a_terminal(acct: Account, *args: str, env: Mapping[str, str] | None = None,
                                  timeout: float = 180, typed_after: bytes = b"",
                                  wait_for: Path | None = None) -> TtyRun:
    """Root runs onboard on a terminal of its own (a pty that is root's controlling terminal, as
    an admin typing `sudo onboard ... --user NAME` has). After the run, whatever waits in the
    terminal's input queue is what root's shell would read and run next. `typed_after`: what
    root types at the terminal once onboard has exited (then, up to 10 s for `wait_for` to appear:
    a thief's loot)."""
    import fcntl
    import pty
    import select
    import termios

    argv, full = _root_argv_env(acct, args, env, None, None, ())
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(argv, env=full, cwd="/", stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True, preexec_fn=controlling_terminal)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                shown += os.read(master, 1 << 16)
            except OSError:
                break
        elif p.poll() is not None:
            break
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)
    if typed_after:
        os.write(master, typed_after)
        until = time.monotonic() + 10
        while wait_for is not None and not wait_for.exists() and time.monotonic() < until:
            time.sleep(0.05)
    # The slave side, read as root's shell would (canonical mode: complete lines only).
    os.set_blocking(slave, False)
    pending = bytearray()
    while True:
        try:
            chunk = os.read(slave, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        pending += chunk
    os.close(slave)
    os.close(master)
    return TtyRun(p.returncode, shown.decode(errors="replace"), bytes(pending))
