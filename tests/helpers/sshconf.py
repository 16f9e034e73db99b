"""Read a config the way ssh does: `ssh -G -F CONFIG HOST` (no connection is made)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def effective(config: Path, host: str) -> list[tuple[str, str]]:
    """Every (option, value) pair ssh would use for `host`, in ssh's own order."""
    proc = subprocess.run(["ssh", "-G", "-F", str(config), host], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    pairs = []
    for line in proc.stdout.splitlines():
        name, _, value = line.partition(" ")
        pairs.append((name, value))
    return pairs


def values(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in pairs if k == name]
