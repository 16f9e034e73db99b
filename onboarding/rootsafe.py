"""Which files no other user can change: the rule root applies before it reads an input.

A leaf (only errors below it): settings refuses an unsafe system team file with it, and
privilege reads root's inputs for `--user` with it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from onboarding.errors import UsageError


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
