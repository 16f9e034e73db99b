"""Root acting for a user (`--user NAME`): check, read what NAME cannot change, then become NAME.

Root never opens a path under NAME's home and never runs NAME's ssh or git
configuration: NAME controls those (symlinks, swaps between check and use, `Match exec`,
hooks). So root only checks the flags, reads the inputs NAME cannot change (root-owned
files in root-owned directories that nobody else can write), and re-executes the whole
command as NAME: uid, gid and groups dropped for good, HOME/USER/LOGNAME of NAME, an
allowlisted environment without root's SSH_AUTH_SOCK, and everything root read (secrets
included) handed over an inherited pipe, never argv or the environment. Files are then
created by NAME itself: nothing is ever chowned. If privileges cannot be dropped, refuse.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import signal
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from onboarding.errors import UsageError

HANDOFF_LIMIT = 1 << 20  # what a user-side process reads from the pipe at most


class Account(NamedTuple):
    name: str
    uid: int
    gid: int
    home: Path
    groups: tuple[int, ...]


def account(name: str) -> Account:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"--user {name}: no such local user") from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), groups)


def needs_switch(name: str | None) -> Account | None:
    """The account to become, or None when we act for ourselves (no --user, or --user is us)."""
    if name is None:
        return None
    acct = account(name)
    if acct.uid == os.geteuid():
        return None
    if os.geteuid() != 0:
        raise UsageError(f"--user {name}: only root can act for another user",
                         hint="run it as root (setup scripts do), or drop --user to set up your own account")
    return acct


# -- what root may read -----------------------------------------------------------------
def _unchangeable_dir(st: os.stat_result) -> bool:
    if st.st_uid != 0 or not stat.S_ISDIR(st.st_mode):
        return False
    if st.st_mode & 0o022 == 0:
        return True
    # /tmp: world-writable but sticky, so nobody but root can rename or remove root's entries.
    return bool(st.st_mode & stat.S_ISVTX)


def root_safe(path: Path) -> bool:
    """True when no other user can change `path`: a root-owned regular file, not group/world
    writable, reached without symlinks through root-owned directories nobody else can alter."""
    p = Path(os.path.abspath(path))
    try:
        for parent in reversed(p.parents):
            if not _unchangeable_dir(os.lstat(parent)):
                return False
        st = os.lstat(p)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == 0 and st.st_mode & 0o022 == 0


def refuse_unsafe_system_file(path: Path) -> None:
    """The system team file must be root's and written by nobody else (DESIGN.md: exit 2)."""
    if not root_safe(path):
        raise UsageError(f"{path}: refusing a system team file that is not root's or that others can write",
                         hint=f"sudo chown root:root {path} && sudo chmod 644 {path} (and its directory 755)")


def read_root_safe(path: Path) -> bytes | None:
    """The file's bytes if it is root-safe (opened without following a symlink), else None."""
    if not root_safe(path):
        return None
    # The path root_safe checked: normalised, so `..` is no longer resolved after a symlink
    # (/tmp/LINK/../f is /tmp/f, not the parent of wherever LINK points).
    fd = os.open(os.path.abspath(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(HANDOFF_LIMIT)


# -- can NAME run us? ---------------------------------------------------------------------
def _allows(st: os.stat_result, acct: Account, bit: int) -> bool:
    if st.st_uid == acct.uid:
        return bool(st.st_mode & (bit << 6))
    if st.st_gid in acct.groups:
        return bool(st.st_mode & (bit << 3))
    return bool(st.st_mode & bit)


def can_run(acct: Account, interpreter: Path, package: Path) -> str | None:
    """None when NAME can execute the interpreter and read the package; else what stops it."""
    exe = Path(os.path.realpath(interpreter))
    for d in [*exe.parents, *package.parents, package]:
        if not _allows(os.stat(d), acct, 1):
            return f"{d} is not searchable by {acct.name}"
    if not _allows(os.stat(exe), acct, 1):
        return f"{exe} is not executable by {acct.name}"
    if not _allows(os.stat(package / "cli.py"), acct, 4):
        return f"{package} is not readable by {acct.name}"
    return None


# -- the hand-off -----------------------------------------------------------------------
def child_env(acct: Account, base: Mapping[str, str]) -> dict[str, str]:
    from onboarding import proc

    env = proc.clean_env(base=base)
    env.update(HOME=str(acct.home), USER=acct.name, LOGNAME=acct.name)
    env.pop("SSH_AUTH_SOCK", None)  # never root's agent (clean_env drops it too: this says why)
    return env


def encode(payload: Mapping[str, Any]) -> bytes:
    def default(value: object) -> object:
        if isinstance(value, bytes):
            return {"b64": base64.b64encode(value).decode()}
        raise TypeError(type(value).__name__)

    return json.dumps(payload, default=default).encode()


def decode_bytes(value: Any) -> bytes | None:
    return base64.b64decode(value["b64"]) if isinstance(value, dict) else None


def become(acct: Account, argv: Sequence[str], payload: Mapping[str, Any]) -> int:
    """Run `onboard argv` as NAME with `payload` on a pipe; return its exit code."""
    from onboarding import proc

    interpreter = Path(sys.executable)
    package = Path(__file__).resolve().parent
    problem = can_run(acct, interpreter, package)
    if problem:
        raise UsageError(f"cannot run onboard as {acct.name}: {problem}; refusing to go on as root",
                         hint="install onboard where every user can run it (e.g. a venv under /opt)")
    read_fd, write_fd = os.pipe()
    os.set_inheritable(read_fd, True)
    code = (f"import sys; sys.path.insert(0, {str(package.parent)!r}); "
            f"from onboarding.privilege import user_entry; sys.exit(user_entry({read_fd}))")
    # -I: isolated mode, so no PYTHON* variable, user site or cwd module of NAME's can slip in first.
    try:
        child = proc.start_as(acct, [str(interpreter), "-I", "-c", code], env=child_env(acct, os.environ),
                              pass_fds=(read_fd,))
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        raise UsageError(f"cannot run onboard as {acct.name}: {exc.strerror}; refusing to go on as root") from None
    os.close(read_fd)
    with os.fdopen(write_fd, "wb") as pipe, contextlib.suppress(BrokenPipeError):
        pipe.write(encode({**payload, "argv": list(argv), "cwd": os.getcwd()}))
    return _wait(child)


_PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _as_passed(signum: int) -> int:
    """Ctrl-C stays SIGINT; a hang-up becomes SIGTERM, which onboard unwinds from (cli._on_sigterm)."""
    return signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM


def _wait(child: Any) -> int:
    # The child runs in a session of its own (no controlling terminal: proc.start_as), so the
    # terminal's Ctrl-C and hang-up reach us alone: pass them on, as SIGTERM.
    old = {sig: signal.signal(sig, lambda signum, _frame: child.send_signal(_as_passed(signum))) for sig in _PASSED_ON}
    try:
        code = int(child.wait())
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def user_entry(fd: int) -> int:
    """First code of the user side: become non-dumpable, then fork, and read the hand-off only in
    the fork. While this process started it was dumpable, so NAME could have opened its
    /proc/PID/mem or attached a tracer; the fork's memory is new and was never dumpable."""
    from onboarding import secrets as sec

    sec.non_dumpable()
    pid = os.fork()
    if pid == 0:
        if _traced():
            print("onboard: error: this process is being traced; refusing to read the secrets", file=sys.stderr)
            os._exit(2)
        from onboarding.cli import user_side

        code = user_side(fd)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)  # not sys.exit: the parent's atexit and finalisers are not the fork's
    os.close(fd)  # only the fork reads the pipe
    for sig in _PASSED_ON:  # from the root side, which has the terminal (we have none)
        signal.signal(sig, lambda signum, _frame: os.kill(pid, _as_passed(signum)))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        except InterruptedError:
            continue


def _traced() -> bool:
    try:
        with open("/proc/self/status") as fh:
            return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in fh)
    except OSError:
        return False


def enter_cwd(payload: Mapping[str, Any]) -> None:
    """User side: go to root's working directory, as the user (relative paths mean the same), if the
    user can enter it; otherwise stay in `/` (where root started us): a directory the user cannot
    reach is not theirs to use, even by relative paths."""
    cwd = payload.get("cwd")
    if isinstance(cwd, str):
        with contextlib.suppress(OSError):
            os.chdir(cwd)


def read_handoff(fd: int) -> dict[str, Any]:
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read(HANDOFF_LIMIT + 1)
    payload = json.loads(data)
    if not isinstance(payload, dict):
        raise UsageError("malformed hand-off from the root side")
    return payload


# -- the two sides, as cli.py calls them ----------------------------------------------------
_INPUT_FLAGS = ("config", "providers_file", "passphrase_file", "token_file")


def switch_for(flags: Mapping[str, Any]) -> Account | None:
    return needs_switch(flags.get("user") or os.environ.get("ONBOARD_USER") or None)


def _root_readable_inputs(flags: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, bytes]:
    """The input files root may read for the user: only those the user cannot change."""
    from onboarding.settings import env_name, system_team_file

    files: dict[str, bytes] = {}
    candidates = [system_team_file(environ)]
    values = [flags.get(name) or environ.get(env_name(name)) for name in _INPUT_FLAGS]
    pairs = flags.get("token_files") or environ.get(env_name("token_files"), "").replace(",", " ").split()
    values += [pair.partition("=")[2] for pair in pairs]  # --token-file PROVIDER=FILE
    for value in values:
        # `~` is the user's home, expanded on the user side; root never reads there.
        if value and not str(value).startswith("~"):
            candidates.append(Path(value))
    for path in candidates:
        data = read_root_safe(path)
        if data is not None:
            files[os.path.abspath(path)] = data
    return files


def hand_over(acct: Account, flags: Mapping[str, Any], argv: Sequence[str], console: Any) -> int:
    """Root side: check the flags, read what root may, then run the command as `acct`."""
    from onboarding import proc
    from onboarding import secrets as sec
    from onboarding import settings as settings_mod

    environ = dict(os.environ)
    files = _root_readable_inputs(flags, environ)
    settings = settings_mod.build(flags, environ, files=files, skip_unread=True)  # syntax and ranges, as root
    held, _deferred = sec.load(settings, environ, stdin=sec.stdin_reader(), files=files, fallback=False)
    onboard_env = {k: v for k, v in environ.items() if k.startswith("ONBOARD_") and not proc.is_secret_name(k)}
    payload = {"uid": acct.uid, "environ": onboard_env, "variables": held.variables,
               "passphrase": held.passphrase, "tokens": held.tokens, "files": files}
    console.detail(f"running as {acct.name} (uid {acct.uid}); root read: {', '.join(files) or 'nothing'}")
    return become(acct, argv, payload)


def load(flags: Mapping[str, Any], handoff: Mapping[str, Any] | None, *, defer: bool = False) -> tuple[Any, Any]:
    """This process's Settings and Secrets: read here, or (user side) completed from root's hand-off."""
    from onboarding import proc
    from onboarding import secrets as sec
    from onboarding import settings as settings_mod

    if handoff is None:
        settings = settings_mod.build(flags, os.environ)
        held, _ = sec.load(settings, os.environ, stdin=sec.stdin_reader())
        return settings, held
    environ = {**proc.clean_env(), **handoff.get("environ", {})}
    files = {k: decode_bytes(v) or b"" for k, v in handoff.get("files", {}).items()}
    settings = settings_mod.build(flags, environ, files=files, defer=defer)
    variables = dict(handoff.get("variables", {}))
    held, _ = sec.load(settings, {**environ, **variables}, stdin=lambda: b"", files=files,
                       preset=decode_bytes(handoff.get("passphrase")), preset_tokens=dict(handoff.get("tokens", {})))
    return settings, held
