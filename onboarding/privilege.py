"""Root acting for a user (`--user NAME`): check, read what NAME cannot change, then become NAME.

Root never opens a path under NAME's home and never runs NAME's ssh or git
configuration: NAME controls those (symlinks, swaps between check and use, `Match exec`,
hooks). So root only checks the flags, reads the inputs NAME cannot change (root-owned
files in root-owned directories that nobody else can write), and runs the whole command as
NAME in a NEW process: not a fork of root (which would keep root's descriptors, its
original environment and its memory, tokens included), but a fresh interpreter (`python -I`,
in `/`, a session of its own) with HOME/USER/LOGNAME of NAME and the allowlisted
environment (no SSH_AUTH_SOCK of root's), stdio and one channel. Before it starts, root
checks that NAME can reach all that interpreter loads (runnable.py). The new process
drops to NAME first thing, then makes itself safe (userside.py: non-dumpable, untraced,
a new socket and a fork whose memory never was dumpable); root sends the settings and
secrets only over that socket, after checking its maker is the child it started, as
NAME exactly (SO_PEERCRED, /proc/PID/status). Never argv, the environment or
a file. Files are then created by NAME itself: nothing is ever chowned. If privileges
cannot be dropped, refuse.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from onboarding import handoff
from onboarding.errors import UsageError
from onboarding.rootsafe import root_safe

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
def read_root_safe(path: Path) -> bytes | None:
    """The file's bytes if it is root-safe (opened without following a symlink), else None."""
    if not root_safe(path):
        return None
    # The path root_safe checked: normalised, so `..` is no longer resolved after a symlink
    # (/tmp/LINK/../f is /tmp/f, not the parent of wherever LINK points).
    fd = os.open(os.path.abspath(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        # One byte more than the limit: a file past it is refused by its reader (tomlfile) on
        # both sides of --user, never truncated into something that parses (issue 22).
        return fh.read(INPUT_LIMIT + 1)


# -- the hand-off -----------------------------------------------------------------------
# The user side's entry: the same onboard package root is running (its folder first on the
# path, for the import of onboarding alone), in an interpreter isolated from the environment
# and from the working directory (-I). Root's argv never reaches it: the command comes over
# the channel. The entry point is a string, not an import: privilege never runs the CLI.
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from onboarding import userside; del sys.path[0]; "
        "sys.exit(userside.main(sys.argv[2:]))")
START_TIMEOUT = 60.0  # seconds for the new interpreter to start and report (a loaded machine, a slow disk)


def child_env(acct: Account, base: Mapping[str, str]) -> dict[str, str]:
    from onboarding import proc

    env = proc.clean_env(base=base)
    env.update(HOME=str(acct.home), USER=acct.name, LOGNAME=acct.name)
    env.pop("SSH_AUTH_SOCK", None)  # never root's agent (clean_env drops it too: this says why)
    return env


def decode_bytes(value: Any) -> bytes | None:
    return value if isinstance(value, bytes) else None


def check_runnable(acct: Account) -> None:
    """Exit 2 naming the first thing the account cannot read or search of what the user side loads."""
    from onboarding import runnable

    package = Path(__file__).resolve().parent
    who = runnable.Who(acct.name, acct.uid, acct.groups)
    problem = runnable.first_unreachable(who, [*runnable.interpreter_needs(), *runnable.package_needs(package)])
    if problem:
        raise UsageError(f"cannot run onboard as {acct.name}: {problem}; refusing to go on as root",
                         hint="install onboard in a venv every user can run, made from a system Python "
                              "(e.g. /usr/bin/python3 -m venv /opt/onboard)")


def become(acct: Account, argv: Sequence[str], payload: dict[str, Any]) -> int:
    """Run `onboard argv` as NAME in a new process (see userside.py) and hand it `payload` once it
    has proved it is that process, safe to receive; its exit code."""
    from onboarding import proc

    check_runnable(acct)
    package_parent = str(Path(__file__).resolve().parent.parent)
    groups = ",".join(str(g) for g in sorted(set(acct.groups)))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        argv_child = [sys.executable, "-I", "-c", BOOT, package_parent, str(theirs.fileno()),
                      str(acct.uid), str(acct.gid), groups]
        # A new program from the start (exec as root, then the drop inside it): no copy of root's
        # memory or environment ever belongs to the user, even for the instant between a change of
        # ids and an exec (which fs.suid_dumpable=1 would leave open to the user).
        child = proc.start(argv_child, env=child_env(acct, os.environ), cwd=Path("/"), stdin=None, stdout=None,
                           stderr=None, own_group=True, pass_fds=(theirs.fileno(),))
    except OSError as exc:
        ours.close()
        raise UsageError(f"cannot start onboard for {acct.name} ({exc.strerror or exc})") from None
    finally:
        theirs.close()
    try:
        with ours:
            channel = _verified_channel(ours, child, acct)
        with channel:
            try:
                handoff.send(channel, {**payload, "argv": list(argv), "cwd": os.getcwd()})
            except OSError as exc:
                raise UsageError(f"the user side of --user {acct.name} closed the channel before the hand-off "
                                 f"({exc.strerror or exc})") from None
    except BaseException:
        _reap(child, kill=True)
        raise
    finally:
        payload.clear()  # root keeps no copy of what it handed over
    code = proc.wait_passing_signals(child.pid, _PASSED_ON, _as_passed)
    child.returncode = code  # reaped above: Popen must not wait for it again
    return code


def _verified_channel(ours: socket.socket, child: Any, acct: Account) -> socket.socket:
    """The socket the user side handed us, once its maker is proved to be `child`, as `acct`."""
    ours.settimeout(START_TIMEOUT)
    try:
        report, fds = handoff.receive(ours, max_fds=2)
    except TimeoutError:
        raise UsageError(f"the user side of --user {acct.name} did not report within {START_TIMEOUT:g}s; "
                         "nothing was handed over") from None
    except (OSError, handoff.ChannelError):
        code = _reap(child, kill=False)
        raise UsageError(f"the user side of --user {acct.name} exited (code {code}) before it reported that "
                         "it started: nothing was handed over (its error output, if any, is above)",
                         hint=f"check that {acct.name} can run {sys.executable} and import onboard") from None
    if "error" in report:
        _close(fds)
        _reap(child, kill=False)
        raise UsageError(f"the user side of --user {acct.name} refused to go on: {report['error']}; "
                         "nothing was handed over, nothing ran as root")
    if len(fds) != 1:
        _close(fds)
        raise UsageError(f"the user side of --user {acct.name} sent {len(fds)} descriptors, not one; "
                         "refusing to hand anything over")
    channel = socket.socket(fileno=fds[0])
    problem = _not_the_child(channel, child.pid, acct)
    if problem:
        channel.close()
        raise UsageError(f"refusing to hand settings and secrets over: {problem}")
    return channel


def _not_the_child(channel: socket.socket, pid: int, acct: Account) -> str | None:
    """Why the channel's maker is not our child as exactly `acct` (ids and groups), untraced."""
    from onboarding import proc

    if channel.family != socket.AF_UNIX or channel.type != socket.SOCK_STREAM:
        return "the descriptor received is not a Unix stream socket"
    peer = handoff.peer(channel)
    if peer != (pid, acct.uid, acct.gid):
        return f"the channel was made by pid {peer.pid} (uid {peer.uid}), not by the user side (pid {pid})"
    status = proc.status(pid)
    ids = (status.get("Uid", "").split(), status.get("Gid", "").split())
    if ids != ([str(acct.uid)] * 4, [str(acct.gid)] * 4):
        return f"the user side's ids are not exactly {acct.name}'s: uid {ids[0]}, gid {ids[1]}"
    groups = sorted({int(g) for g in status.get("Groups", "").split()})
    if groups != sorted(set(acct.groups)):
        return f"the user side's groups are {groups}, not exactly {acct.name}'s {sorted(set(acct.groups))}"
    if status.get("TracerPid") != "0":
        return f"the user side is being traced (TracerPid {status.get('TracerPid')})"
    return None


def _reap(child: Any, *, kill: bool, timeout: float = 5.0) -> int | str:
    """The child's exit code once it is gone (killed first if `kill`). Bounded: a tracer of the
    account's holds a traced child's exit until it waits for it, and root must not hang on that."""
    from onboarding import proc

    if kill:
        child.kill()
    try:
        return int(child.wait(timeout=timeout))
    except proc.TimeoutExpired:
        child.kill()
        return "unknown: it is held by a tracer"


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)


_PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _as_passed(signum: int) -> int:
    """Ctrl-C stays SIGINT; a hang-up becomes SIGTERM, which onboard unwinds from (cli._on_sigterm).
    The user side has no controlling terminal (a session of its own), so they reach root alone."""
    return signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM


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


def hand_over(acct: Account, flags: Mapping[str, Any], argv: Sequence[str], console: Any, *,
              defer: bool = False) -> int:
    """Root side: check the flags, read what root may, then run the command as `acct`."""
    from onboarding import proc
    from onboarding import secrets as sec
    from onboarding import settings as settings_mod

    environ = dict(os.environ)
    files = _root_readable_inputs(flags, environ)
    # syntax and ranges, as root; setup's bad values go on to its pre-check, which names them all
    settings = settings_mod.build(flags, environ, files=files, skip_unread=True, defer=defer)
    held, _deferred = sec.load(settings, environ, stdin=sec.stdin_reader(), files=files, fallback=False,
                               defer=defer)
    onboard_env = {k: v for k, v in environ.items() if k.startswith("ONBOARD_") and not proc.is_secret_name(k)}
    payload = {"uid": acct.uid, "environ": onboard_env, "variables": held.variables,
               "passphrase": held.passphrase, "tokens": held.tokens, "files": files,
               "addresses": addresses(settings), "problems": held.problems}
    console.detail(f"running as {acct.name} (uid {acct.uid}); root read: {', '.join(files) or 'nothing'}")
    del held  # the payload is the one reference left, and become clears it once it is sent
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
    settings = with_providers_file(settings_mod.build(flags, environ, files=files, defer=defer))
    refuse_other_addresses(settings, handoff.get("addresses"))
    variables = dict(handoff.get("variables", {}))
    problems = [str(p) for p in handoff.get("problems", [])]  # root's side failed to read the passphrase
    held, _ = sec.load(settings, {**environ, **variables}, stdin=lambda: b"", files=files,
                       preset=decode_bytes(handoff.get("passphrase")), preset_tokens=dict(handoff.get("tokens", {})),
                       defer=defer, preset_problems=problems)
    return settings, held


# -- where root's tokens go ------------------------------------------------------------------
# The settings that name an address a token is sent to. Under --user only root decides them:
# root's token must never follow a member's file to the member's own server (issue 22). This
# is the one exception to the precedence of settings (docs/cli.md).
ADDRESS_OPTIONS = ("github_api", "gitlab_url", "bitbucket_api")


def addresses(settings: Any) -> dict[str, str]:
    """Every token-receiving address these settings name: the three API options and each
    provider's api_url (team files, and a --providers-file whose bytes this process holds)."""
    out = {name: str(getattr(settings, name)) for name in ADDRESS_OPTIONS}
    tables: list[tuple[str, Mapping[str, Any]]] = [("", settings.team_providers)]
    path = settings.providers_file
    raw = settings.inputs.get(os.path.abspath(path.expanduser())) if path is not None else None
    if raw is not None:
        import contextlib

        from onboarding import providers

        with contextlib.suppress(UsageError):  # reported when the catalogue is built, with the file named
            tables.append((f"{path}: ", providers.load_file(path, raw)))
    for prefix, found in tables:
        for name, table in found.items():
            if isinstance(table, Mapping) and table.get("api_url") is not None:
                out[f"{prefix}[providers.{name}] api_url"] = str(table["api_url"])
    return out


def with_providers_file(settings: Any) -> Any:
    """The user side reads a --providers-file root did not, once: the catalogue is built from these
    bytes, the ones checked here (a file swapped after the check changes nothing)."""
    path = settings.providers_file
    if path is None or os.path.abspath(path.expanduser()) in settings.inputs:
        return settings
    key = os.path.abspath(path.expanduser())
    try:
        # One byte past the limit: tomlfile refuses what is too big instead of parsing a truncated file.
        with open(key, "rb") as fh:
            data = fh.read(INPUT_LIMIT + 1)
    except OSError as exc:
        # Refused now: a file unreadable at this check and readable later would escape it.
        raise UsageError(f"cannot read --providers-file {path}: {exc.strerror or exc}") from None
    return settings._replace(inputs={**settings.inputs, key: data})


def refuse_other_addresses(settings: Any, roots: Any) -> None:
    """Exit 2 naming each address the user's files set to something root's inputs did not."""
    if not isinstance(roots, Mapping):
        return  # an older root side sent none: nothing to compare with
    mine = addresses(settings)
    changed = [key for key, value in mine.items() if roots.get(key) != value]
    if not changed:
        return
    origins = [settings.origins.get(key) or (f"{settings.config}: {key}" if key.startswith("[") else key)
               for key in changed]
    raise UsageError(f"under --user, {', '.join(origins)} would send root's token to another address "
                     f"({', '.join(f'{k} = {mine[k]!r}' for k in changed)})",
                     hint="only root's inputs (flags, root's environment, the system team file, root-only files) "
                          "choose where a token goes; drop the key from the user's file or pass the same value")
