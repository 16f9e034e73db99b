"""Root acting for a user (`--user NAME`): check, read what NAME cannot change, then become NAME.

Root never opens a path under NAME's home and never runs NAME's ssh or git
configuration: NAME controls those (symlinks, swaps between check and use, `Match exec`,
hooks). So root only checks the flags, reads the inputs NAME cannot change (root-owned
files in root-owned directories that nobody else can write), and runs the whole command as
NAME in a fork that drops uid, gid and groups for good before it does anything (no exec: a
freshly exec'd interpreter is dumpable while it starts, and NAME could copy what it is
handed), with HOME/USER/LOGNAME of NAME, an allowlisted environment without root's
SSH_AUTH_SOCK, and everything root read (secrets included) in the fork's memory, never
argv, the environment, a file or a pipe. Files are then created by NAME itself: nothing is
ever chowned. If privileges cannot be dropped, refuse.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from onboarding.errors import UsageError

INPUT_LIMIT = 1 << 20  # what root reads of an input file for the user side, at most


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
        return fh.read(INPUT_LIMIT)


# -- can NAME run us? ---------------------------------------------------------------------
def _allows(st: os.stat_result, acct: Account, bit: int) -> bool:
    if st.st_uid == acct.uid:
        return bool(st.st_mode & (bit << 6))
    if st.st_gid in acct.groups:
        return bool(st.st_mode & (bit << 3))
    return bool(st.st_mode & bit)


# What the fork imports as NAME after the drop: onboard itself and its dependencies.
_DEPENDENCIES = ("cryptography", "bcrypt", "paramiko", "questionary", "prompt_toolkit")


def _import_folders() -> list[Path]:
    from importlib.util import find_spec

    folders = []
    for name in _DEPENDENCIES:
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin:
            folders.append(Path(spec.origin).parent)  # as the import system found it (links unresolved)
    return folders


def can_run(acct: Account, package: Path, folders: Sequence[Path]) -> str | None:
    """None when NAME can read the package and reach the folders its imports come from (the fork
    imports the rest of onboard and its dependencies as NAME); else what stops it."""
    for folder in [package, *folders]:
        for d in [*reversed(folder.parents), folder]:  # as given: a symlinked prefix is walked too
            if not _allows(os.stat(d), acct, 1):
                return f"{d} is not searchable by {acct.name}"
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


def decode_bytes(value: Any) -> bytes | None:
    return value if isinstance(value, bytes) else None


def become(acct: Account, argv: Sequence[str], payload: Mapping[str, Any]) -> int:
    """Run `onboard argv` as NAME in a fork that drops to NAME (proc.fork_as), with `payload` in
    its memory: never in argv, the environment, a file or a pipe another process could open."""
    from onboarding import proc

    problem = can_run(acct, Path(__file__).parent, _import_folders())
    if problem:  # the fork imports the rest of onboard (and its dependencies) as NAME
        raise UsageError(f"cannot run onboard as {acct.name}: {problem}; refusing to go on as root",
                         hint="install onboard where every user can run it (e.g. a venv under /opt)")
    env = child_env(acct, os.environ)
    handoff = {**payload, "argv": list(argv), "cwd": os.getcwd()}

    def as_user() -> int:
        os.environ.clear()
        os.environ.update(env)  # HOME, USER and the allowlist: nothing else of root's
        enter_cwd(handoff)
        from onboarding.cli import user_side

        return user_side(handoff)

    return proc.wait_passing_signals(proc.fork_as(acct, as_user), _PASSED_ON, _as_passed)


_PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _as_passed(signum: int) -> int:
    """Ctrl-C stays SIGINT; a hang-up becomes SIGTERM, which onboard unwinds from (cli._on_sigterm).
    The user side has no controlling terminal (a session of its own), so they reach root alone."""
    return signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM


def enter_cwd(payload: Mapping[str, Any]) -> None:
    """User side: go to root's working directory, as the user (relative paths mean the same), if the
    user can enter it; otherwise stay in `/`: a directory the user cannot reach is not theirs to
    use, even by relative paths."""
    cwd = payload.get("cwd")
    if isinstance(cwd, str):
        with contextlib.suppress(OSError):
            os.chdir(cwd)


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
