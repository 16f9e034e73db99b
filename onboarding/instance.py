"""Where am I: which user we act for, their home, and whether this is an Azure ML compute instance."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from onboarding.errors import UsageError

CLUSTER_MOUNTS = Path("/mnt/batch/tasks/shared/LS_root/mounts/clusters")


@dataclass(frozen=True)
class Target:
    """The account whose files we write. `chown` is set only when root acts for someone else."""

    name: str
    uid: int
    gid: int
    home: Path
    chown: bool

    @property
    def ssh_dir(self) -> Path:
        return self.home / ".ssh"

    def owner(self) -> tuple[int, int] | None:
        return (self.uid, self.gid) if self.chown else None


def resolve_target(user: str | None, environ: Mapping[str, str] | None = None) -> Target:
    env = os.environ if environ is None else environ
    euid = os.geteuid()
    if user is None:
        entry = _pw_by_uid(euid)
        # HOME wins over the password database, as for git and most tools (and the tests).
        home = Path(env.get("HOME") or (entry.pw_dir if entry else "/"))
        name = entry.pw_name if entry else str(euid)
        return Target(name, euid, os.getegid(), home, chown=False)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UsageError(f"--user {user}: no such local user") from None
    if entry.pw_uid == euid:
        return Target(entry.pw_name, euid, os.getegid(), Path(entry.pw_dir), chown=False)
    if euid != 0:
        raise UsageError(
            f"--user {user}: only root can act for another user",
            hint="run it as root (setup scripts do), or drop --user to set up your own account",
        )
    return Target(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), chown=True)


def _pw_by_uid(uid: int) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(uid)
    except KeyError:
        return None


def default_comment(target: Target) -> str:
    return f"{target.name}@{socket.gethostname()}"


@dataclass(frozen=True)
class ComputeInstance:
    name: str
    local_user: str | None
    cloudfiles: Path | None


def detect_compute_instance(
    home: Path, environ: Mapping[str, str] | None = None
) -> ComputeInstance | None:
    """An Azure ML compute instance, or None. CI_NAME alone is not proof: other CI systems set it."""
    env = os.environ if environ is None else environ
    name = env.get("CI_NAME", "")
    if not name:
        return None
    local_user = env.get("CI_LOCAL_UBUNTU_USER") or None
    cloudfiles = home / "cloudfiles" / "code"
    has_share = cloudfiles.is_dir() or (CLUSTER_MOUNTS / name).is_dir()
    if not (local_user or has_share):
        return None
    return ComputeInstance(name, local_user, cloudfiles if cloudfiles.is_dir() else None)
