"""Run the real CLI and SIGKILL it just before its Nth change to one directory.

No hook in the package: a wrapper patches the os functions that change a directory
(open with O_CREAT, link, rename/replace, unlink) to count the calls whose path lies
under WATCH, and the process kills itself before call number KILL_AT. Stepping KILL_AT
from 1 until a run completes visits every instant between two changes.
"""

from __future__ import annotations

import os
import subprocess
import sys

WRAPPER = r"""
import os, signal, sys
watch, kill_at = os.environ["WATCH"], int(os.environ["KILL_AT"])
count = [0]
def step(*paths):
    if any(watch in os.fsdecode(p) for p in paths if isinstance(p, (str, bytes, os.PathLike))):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
def wrap(real, n_paths, only_create=False):
    def f(*a, **kw):
        if not only_create or (len(a) > 1 and a[1] & os.O_CREAT):
            step(*a[:n_paths])
        return real(*a, **kw)
    return f
os.open = wrap(os.open, 1, only_create=True)
os.link, os.replace, os.rename = wrap(os.link, 2), wrap(os.replace, 2), wrap(os.rename, 2)
os.unlink = wrap(os.unlink, 1)
from onboarding.cli import main
sys.exit(main(sys.argv[1:]))
"""


def killed_at(step: int, watch: str, *args: str, env: dict[str, str] | None = None) -> int:
    """Exit status of `onboard ARGS` killed before its `step`th change under `watch` (-9 if killed)."""
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args],
                          env={**os.environ, **(env or {}), "WATCH": watch, "KILL_AT": str(step)},
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    return proc.returncode
