"""The entry point of the user side of `--user`: a fresh interpreter root started as the user.

Root (privilege.become) dropped to the account and exec'd `python -I -c BOOT`, which
imports this module and calls `main(channel)`. This process was dumpable while Python
started: a process of the account's could have opened its /proc/PID/mem, copied its
descriptors (pidfd_getfd) or attached as a tracer meanwhile. So, in this order:

1. non-dumpable (prctl): from now on nobody of the account's can attach, open our memory
   or copy a descriptor;
2. not traced (TracerPid 0): a tracer that attached during start-up survives prctl;
3. a NEW socket pair (its descriptors never existed while we were dumpable), and a fork
   that will hold the secrets: the fork's memory is new and never was dumpable, so a
   /proc/PID/mem opened on this process during start-up never reads it;
4. report to root over the inherited channel, handing it one end of the new pair: root
   checks that its maker (SO_PEERCRED) is the process it started, as the account, and only
   then sends settings and secrets, which only the fork receives.

This process then waits for the fork and passes root's signals on to it; the fork enters
root's working directory (as the user) and runs the command (cli.user_side).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from typing import Any

from onboarding import handoff, proc

PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main(channel: int) -> int:
    proc.non_dumpable()  # first of all
    ours = socket.socket(fileno=channel)
    problem = _refusal()
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


def _refusal() -> str | None:
    """Why this process must not receive anything: still traced, or not dropped for good."""
    tracer = proc.status().get("TracerPid", "")
    if tracer != "0":
        return (f"the user side of --user is being traced (TracerPid {tracer or 'unknown'}): "
                "refusing to receive settings and secrets")
    uids, gids = os.getresuid(), os.getresgid()
    if 0 in uids or 0 in gids or len(set(uids)) != 1 or len(set(gids)) != 1:
        return f"the user side of --user did not drop its ids for good (uids {uids}, gids {gids}); refusing to go on"
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
