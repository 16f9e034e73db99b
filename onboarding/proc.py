"""The one door for child processes (git, ssh, ssh-keygen, ssh-agent): environment, deadline, user.

Every child starts with an allowlisted environment (DESIGN.md): never a passphrase, a
token or any other variable of the caller that is not on the list, and never the caller's
GIT_* or SSH_* variables (GIT_DIR, GIT_CONFIG_*, GIT_SSH_COMMAND ... change what git does;
SSH_AUTH_SOCK would hand root's agent to a user). What a step needs on top (GIT_SSH_COMMAND,
the private agent's socket) it passes as `extra`. git-info alone runs git with the caller's
environment, for parity with the SDK, minus onboard's secrets: `caller_env`.

A captured child runs in its own process group, so a deadline kills its grandchildren too
(a hook or fsmonitor that holds stderr open cannot outlive the deadline).

The user side of `--user` is started here too (privilege.become): `start` with the
allowlisted environment, stdio and one channel (close_fds), in `/` and a session of its
own; the new interpreter then drops with `drop_to` and protects itself with
`non_dumpable` (userside.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

DEVNULL = subprocess.DEVNULL
PIPE = subprocess.PIPE
Popen = subprocess.Popen
TimeoutExpired = subprocess.TimeoutExpired

_ALLOWED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "NO_COLOR", "TZ",
    # proxies and CA bundles: what a corporate network needs to reach anything
    "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    # the compute instance's own (instance.py), by name: CI_* is also GitLab CI's namespace, whose
    # CI_JOB_TOKEN, CI_REGISTRY_PASSWORD, CI_REPOSITORY_URL (token inside) must never reach a child
    "CI_NAME", "CI_LOCAL_UBUNTU_USER", "CI_RESOURCE_GROUP", "CI_WORKSPACE",
})
_ALLOWED_PREFIXES = ("LC_",)  # locale

# Variables that hold secrets of onboard's (or that onboard reads a secret from). secrets.py
# adds the name given to --passphrase-env at run time.
SECRET_VARIABLES: set[str] = {
    "ONBOARD_PASSPHRASE", "GH_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "BITBUCKET_TOKEN", "GITEA_TOKEN",
    "BITBUCKET_EMAIL",
}
_SECRET_MARKERS = ("TOKEN", "PASSPHRASE", "PASSWORD", "SECRET")


# ONBOARD_PASSPHRASE_FILE, ONBOARD_TOKEN_KEYVAULT, ONBOARD_PASSPHRASE_ENV ... name where a secret is,
# not the secret: they are options like any other (the user side of --user needs them).
_REFERENCE_SUFFIXES = ("_FILE", "_FILES", "_ENV", "_KEYVAULT", "_STDIN")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    if name in SECRET_VARIABLES:
        return True
    return (upper.startswith("ONBOARD_") and any(m in upper for m in _SECRET_MARKERS)
            and not upper.endswith(_REFERENCE_SUFFIXES))


def clean_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of `base` (default: this process's environment), plus `extra`."""
    src = os.environ if base is None else base
    env = {k: v for k, v in src.items()
           if (k in _ALLOWED or k.startswith(_ALLOWED_PREFIXES)) and not is_secret_name(k)}
    env.setdefault("PATH", os.defpath)
    if extra:
        env.update(extra)
    return env


def caller_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's whole environment minus onboard's secrets (git-info's parity with the SDK)."""
    src = os.environ if base is None else base
    env = {k: v for k, v in src.items() if not is_secret_name(k)}
    if extra:
        env.update(extra)
    return env


def which(tool: str) -> str | None:
    import shutil  # here: it pulls in bz2 and lzma, ~3 ms that git-info's start-up does not need

    return shutil.which(tool)


class Completed(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool

    @property
    def out(self) -> str:
        return self.stdout.decode(errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.decode(errors="replace")


def start(argv: Sequence[str], *, extra: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
          cwd: Path | None = None, stdin: int | IO[bytes] | None = DEVNULL, stdout: int | IO[bytes] | None = PIPE,
          stderr: int | IO[bytes] | None = PIPE, own_group: bool = True,
          pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    """Start a child. `env` replaces the allowlist (caller_env(), or the user side's allowlist)."""
    return subprocess.Popen(list(argv), env=dict(env) if env is not None else clean_env(extra), cwd=cwd,
                            stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=own_group,
                            pass_fds=tuple(pass_fds))


def drop_to(uid: int, gid: int, groups: Sequence[int]) -> None:
    """Become uid/gid for good (root only), never reachable by the account on the way: groups
    (exactly these), then gid, then uid, each real, effective and saved.

    A change of the effective uid makes the kernel reset dumpability to fs.suid_dumpable
    (1: dumpable), and a dumpable process of the account's can be traced, read through
    /proc/PID/mem or robbed of a descriptor (pidfd_getfd). So the saved uid stays root's
    until prctl has made us non-dumpable (ptrace access needs all three uids to match the
    account's), and the last step changes the saved uid alone, which leaves dumpability as
    it is. OSError when the kernel refuses or the end state is not exactly this."""
    os.setgroups(list(groups))
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, 0)
    non_dumpable()
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid,) * 3 or os.getresgid() != (gid,) * 3 or sorted(set(os.getgroups())) != sorted(
            set(groups)):
        raise PermissionError(f"the ids did not change (uids {os.getresuid()}, gids {os.getresgid()})")
    if dumpable():
        raise PermissionError("the process is still dumpable after prctl")


def non_dumpable() -> None:
    """No core file and no same-uid ptrace, /proc/PID/mem or pidfd_getfd (prctl PR_SET_DUMPABLE 0)."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        # The soft limit is what a crash obeys; the hard one is left, so that whoever called us
        # in-process (a test runner, a tool embedding onboard) can still raise it for others.
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def dumpable() -> bool:
    """prctl PR_GET_DUMPABLE (False where there is no prctl: nothing to ask)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    return bool(ctypes.CDLL(None, use_errno=True).prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE = 3


def status(pid: int | str = "self") -> dict[str, str]:
    """/proc/PID/status as a mapping (Uid, Gid, Groups, TracerPid ...); empty where there is none."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return {}
    return {name: value.strip() for name, _, value in (line.partition(":") for line in text.splitlines())}


def wait_passing_signals(pid: int, signals: Sequence[int], translate: Callable[[int], int]) -> int:
    """Wait for a child, passing `signals` received meanwhile on to it; its exit code (128+N on signal N)."""
    old = {sig: signal.signal(sig, lambda signum, _frame: _send(pid, translate(signum))) for sig in signals}
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)  # held back while the child started, if they were
    try:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code
            except InterruptedError:
                continue
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _send(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def finish(p: subprocess.Popen[bytes], *, deadline: float | None, input: bytes | None = None) -> Completed:
    """Wait until `deadline` (time.monotonic()); past it kill the child's whole group."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        out, err = p.communicate(input, timeout=timeout)
        return Completed(p.returncode, out or b"", err or b"", False)
    except subprocess.TimeoutExpired:
        kill_group(p)
        try:  # the group is dead: whatever is left in the pipes comes at once
            out, err = p.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # a grandchild that left the group still holds a pipe
            out, err = b"", b""
        return Completed(p.returncode if p.returncode is not None else -9, out or b"", err or b"", True)


def kill_group(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        p.kill()


def run(argv: Sequence[str], *, timeout: float | None, extra: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None, cwd: Path | None = None, input: bytes | None = None) -> Completed:
    """Run to the end (or the deadline), capturing both streams; never raises for a missing tool."""
    try:
        p = start(argv, extra=extra, env=env, cwd=cwd, stdin=PIPE if input is not None else DEVNULL)
    except OSError as exc:
        return Completed(127, b"", f"{argv[0]}: {exc.strerror}".encode(), False)
    return finish(p, deadline=None if timeout is None else time.monotonic() + timeout, input=input)


# -- small questions for the OpenSSH client ---------------------------------------------
def ssh_effective(host: str, config: Path | None = None, timeout: float = 10) -> dict[str, str]:
    """`ssh -G host` as a mapping (lower-case keys); empty when ssh cannot say."""
    if not which("ssh"):
        return {}
    argv = ["ssh", "-G", *(["-F", str(config)] if config else []), "--", host]
    done = run(argv, timeout=timeout)
    if done.returncode != 0:
        return {}
    values: dict[str, str] = {}
    for line in done.out.splitlines():
        name, _, value = line.partition(" ")
        values.setdefault(name, value.strip())
    return values


def hashes_known_hosts() -> bool:
    """Debian and Ubuntu ship HashKnownHosts yes: follow what ssh would do for this user."""
    return ssh_effective("github.com").get("hashknownhosts") == "yes"
