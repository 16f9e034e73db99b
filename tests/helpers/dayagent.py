"""Day two's kit: a real account whose passwd home is its home (ssh reads ~/.ssh/config from the
passwd entry, not from $HOME), an sshd that lets it in, and the ssh-agents it runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from helpers.attacker import CHECKOUT, SYSTEM_PATH, Account
from helpers.run import Result


def as_account_argv(acct: Account, argv: Sequence[str]) -> list[str]:
    return ["setpriv", f"--reuid={acct.uid}", f"--regid={acct.gid}", "--init-groups", *argv]


def account_env(acct: Account, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"HOME": str(acct.home), "USER": acct.name, "LOGNAME": acct.name, "PATH": SYSTEM_PATH,
            "LANG": "C.UTF-8", "PYTHONPATH": str(CHECKOUT), **(extra or {})}


def run_as(acct: Account, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
           timeout: float = 120, cwd: Path | None = None) -> Result:
    """A process of the account's with no terminal: a session of its own, stdin from /dev/null."""
    p = subprocess.run(as_account_argv(acct, argv), env=dict(env) if env is not None else account_env(acct),
                       cwd=cwd or acct.home, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       start_new_session=True)
    return Result(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def onboard_as(acct: Account, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180) -> Result:
    return run_as(acct, [sys.executable, "-m", "onboarding", *args], env=account_env(acct, env), timeout=timeout)


def agents_of(uid: int) -> list[int]:
    """The pids of the ssh-agent processes running as `uid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uids = next((ln.split()[1:] for ln in status.splitlines() if ln.startswith("Uid:")), [])
        if cmd.startswith(b"ssh-agent\0") and uids and int(uids[0]) == uid:
            found.append(int(entry))
    return found


def kill_agents(uid: int) -> None:
    """Every ssh-agent of the throwaway account (only its own: never another user's)."""
    for pid in agents_of(uid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while agents_of(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
