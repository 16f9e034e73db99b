"""Where am I: which user we act for, their home, and whether this is an Azure ML compute instance."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CLUSTER_MOUNTS = Path("/mnt/batch/tasks/shared/LS_root/mounts/clusters")


@dataclass(frozen=True)
class Target:
    """The account we act for: always this process's own (root acting for a user re-executes
    as that user first, privilege.py), so every file is created by its owner and none chowned."""

    name: str
    uid: int
    gid: int
    home: Path

    @property
    def ssh_dir(self) -> Path:
        return self.home / ".ssh"


def resolve_target(user: str | None = None, environ: Mapping[str, str] | None = None) -> Target:
    env = os.environ if environ is None else environ
    euid = os.geteuid()
    entry = _pw_by_uid(euid)
    # HOME wins over the password database, as for git and most tools (and the tests); the
    # user side of `--user` has HOME set from the passwd entry by the root side.
    home = Path(env.get("HOME") or (entry.pw_dir if entry else "/"))
    name = entry.pw_name if entry else str(euid)
    return Target(name, euid, os.getegid(), home)


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
