"""The entry point of the user side of `--user`: a fresh interpreter that becomes the user.

Root (privilege.become) started `python -I -c BOOT` with the allowlisted environment, in
`/`, in a session of its own, with stdio and one channel: a new program, so nothing of
root's memory, environment or descriptors is in it. It starts as root and drops here,
first thing, so no copy of root is ever the user's. A process of the user's must never be
able to act on it: trace it, open its /proc/PID/mem, copy a descriptor (pidfd_getfd). In
this order:

1. drop, non-dumpable before the user can reach us (proc.drop_to: the saved uid stays
   root's until prctl, even with fs.suid_dumpable=1, which leaves a process dumpable
   after a change of ids);
2. not traced (TracerPid 0), the check that would catch a tracer had one got in anyway;
3. the modules the command needs are imported as the user (what the user cannot read
   fails here, and root reports it);
4. a NEW socket pair, and a fork that will hold the secrets: its memory and descriptors are
   new, so whatever was taken of this process, had anything been, never reads them;
5. report to root over the inherited channel, handing it one end of the new pair: root
   checks that its maker (SO_PEERCRED) is the process it started, as the user exactly, and
   only then sends settings and secrets, which only the fork receives.

This process then waits for the fork and passes root's signals on to it; the fork enters
root's working directory (as the user) and runs the command (cli.user_side).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from onboarding import handoff, proc

PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main(args: Sequence[str]) -> int:
    """args: the channel's descriptor, then uid, gid and the groups (comma-separated) to become."""
    channel, uid, gid = (int(a) for a in args[:3])
    groups = [int(g) for g in args[3].split(",") if g]
    ours = socket.socket(fileno=channel)
    try:
        proc.drop_to(uid, gid, groups)
    except OSError as exc:
        handoff.send(ours, {"error": f"cannot drop to uid {uid} ({exc.strerror or exc})"})
        return 2
    problem = _refusal() or _imports()
    if problem:
        handoff.send(ours, {"error": problem})
        return 2
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    signal.pthread_sigmask(signal.SIG_BLOCK, PASSED_ON)  # none lost, none acted on, until each side is ready
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    worker = os.fork()
    if worker == 0:
        code = 1
        try:
            ours.close()
            theirs.close()
            code = _work(mine)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            _exit(code)
    mine.close()
    handoff.send(ours, {"started": True, "worker": worker}, fds=(theirs.fileno(),))
    theirs.close()
    ours.close()
    return proc.wait_passing_signals(worker, PASSED_ON, lambda signum: signum)


def _imports() -> str | None:
    """Import, as the user, what every command needs: what the user cannot read fails now, while
    root can still report it (one JSON document with --json)."""
    try:
        import onboarding.cli  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"the user cannot import onboard ({type(exc).__name__}: {exc})"
    return None


def _refusal() -> str | None:
    """Why this process must not receive anything: a tracer attached."""
    tracer = proc.status().get("TracerPid", "")
    if tracer != "0":
        return f"it is being traced (TracerPid {tracer or 'unknown'})"
    return None


def _work(mine: socket.socket) -> int:
    """The fork: receive root's hand-off, then run the command as the user."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)
    try:
        payload, _ = handoff.receive(mine)
    except (OSError, handoff.ChannelError) as exc:
        print(f"onboard: error: the hand-off from root did not arrive ({exc})", file=sys.stderr)
        return 2
    finally:
        mine.close()
    enter_cwd(payload)
    from onboarding.cli import user_side

    return user_side(payload)


def enter_cwd(payload: dict[str, Any]) -> None:
    """Go to root's working directory, as the user (relative paths mean the same), if the user can
    enter it; otherwise stay in `/`: a directory the user cannot reach is not theirs to use, even
    by relative paths."""
    cwd = payload.get("cwd")
    if isinstance(cwd, str):
        with contextlib.suppress(OSError):
            os.chdir(cwd)


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)  # never return into the code that forked (the waiting side's stack)
