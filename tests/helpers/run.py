"""Run the real binary: as a child process, or as another account (setpriv)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def onboard(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> Result:
    """Run the real CLI in a subprocess (no terminal: stdin is a pipe or /dev/null)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        [sys.executable, "-m", "onboarding", *args],
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


def as_user(entry: pwd.struct_passwd, *args: str, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
    """Run onboard as that account (setpriv drops root for real)."""
    # PYTHONPATH: the package as this checkout has it, whatever the install mode.
    repo = str(REPO)
    full_env = {**os.environ, "HOME": entry.pw_dir, "PYTHONPATH": repo, **(env or {})}
    proc = subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
         sys.executable, "-m", "onboarding", *args],
        input=input.encode() if input is not None else None,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True, env=full_env, timeout=120, cwd="/",
    )
    return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
