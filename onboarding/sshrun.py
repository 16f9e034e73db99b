"""Small questions for the OpenSSH client: its effective config for the target user."""

from __future__ import annotations

import shutil
import subprocess

from onboarding.instance import Target


def as_target(tgt: Target, argv: list[str]) -> list[str]:
    """Run argv as the target user when root acts for someone else (so ssh reads their config)."""
    if tgt.chown and shutil.which("setpriv"):
        return ["setpriv", f"--reuid={tgt.uid}", f"--regid={tgt.gid}", "--init-groups", *argv]
    return argv


def effective_option(tgt: Target, host: str, option: str) -> str | None:
    """`ssh -G host` value of `option` (lower case), or None when ssh cannot say."""
    if not shutil.which("ssh"):
        return None
    try:
        proc = subprocess.run(as_target(tgt, ["ssh", "-G", host]), capture_output=True, text=True,
                              timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stdout.splitlines():
        name, _, value = line.partition(" ")
        if name == option.lower():
            return value.strip()
    return None


def hashes_known_hosts(tgt: Target) -> bool:
    """Debian and Ubuntu ship HashKnownHosts yes: follow what ssh would do for this user."""
    return effective_option(tgt, "github.com", "hashknownhosts") == "yes"
