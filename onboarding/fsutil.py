"""Safe file writes: right mode from the first byte, never a symlink followed, all or nothing.

Every file the tool writes goes through `write_new` (must not exist: keys) or
`replace_file` (atomic merge result: known_hosts, ssh config). Both write a temporary
file in the same directory, fsync it, then link/rename it into place, so a crash or a
SIGKILL leaves either the old file or the complete new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from pathlib import Path

from onboarding.errors import ConflictError, OnboardError
from onboarding.textcheck import check_path_text as check_path_text  # steps call it as fsutil's

Owner = tuple[int, int] | None


class WriteError(OnboardError):
    """An OS error while writing (disk full, read-only, permission): exit 1 with the path."""


def _describe(exc: OSError, path: Path) -> WriteError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = None
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = f"check who owns {path.parent} (ls -ld {path.parent}); run as that user or as root with --user"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        hint = "free some disk space and run the command again; nothing was changed"
    elif exc.errno == errno.EROFS:
        hint = "that file system is read-only"
    return WriteError(f"cannot write {path}: {reason}", hint=hint)


def ensure_private_dir(path: Path, owner: Owner) -> str | None:
    """Make `path` a 0700 directory owned by `owner`; return what was done, if anything."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
            if owner:
                os.chown(path, *owner)
        except OSError as exc:
            raise _describe(exc, path) from None
        return f"created {path} (mode 0700)"
    except OSError as exc:  # a file where a folder above it should be (ENOTDIR), a loop, no access
        raise _describe(exc, path) from None
    if stat.S_ISLNK(st.st_mode):
        raise ConflictError(
            f"{path} is a symbolic link; refusing to follow it",
            hint="replace the link with a real directory (mode 0700) and run again",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise ConflictError(f"{path} exists and is not a directory")
    expected = owner[0] if owner else os.geteuid()
    if st.st_uid != expected:
        # ssh refuses keys in a directory owned by someone else; so do we, rather than write into it.
        raise ConflictError(
            f"{path} is owned by uid {st.st_uid}, not by the account we set up (uid {expected})",
            hint=f"give it back: sudo chown -R {expected} {path}",
        )
    if st.st_mode & 0o077 and path.name != ".ssh":
        # Not ssh's own directory (--key-file elsewhere): never change its mode (it may be /tmp, or
        # shared on purpose); refuse only where others could replace the key, as ssh would.
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            raise ConflictError(f"{path} can be written by others, so a key there could be replaced",
                                hint="choose a --key-file in a directory only you can write (e.g. ~/.ssh)")
        return None
    if st.st_mode & 0o077:
        # ssh refuses keys in a directory others can write to; tighten rather than fail later.
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            raise _describe(exc, path) from None
        return f"tightened {path} from {stat.S_IMODE(st.st_mode):04o} to 0700"
    return None


def _temp_name(path: Path) -> Path:
    # The writer's pid in the name lets a later run tell a SIGKILLed writer's file from a live one.
    import secrets  # here: its hashlib import is not for every start-up (git-info)

    return path.with_name(f".{path.name}.onboard-{os.getpid()}-{secrets.token_hex(4)}.tmp")


# Our temp names, and the pid-less ones versions before 0.x wrote (`.NAME.onboard-XXXXXXXX.tmp`).
_TEMP = re.compile(r"^\..+\.onboard-(?:(\d{1,10})-)?[0-9a-f]{8}\.tmp$")
STALE_AFTER = 10.0  # seconds: no write of ours takes that long between create and rename
DEAD_AFTER = 3600.0  # seconds: past this even a "live" pid is someone else's (pids are reused)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but is another user's
    return True


def is_stale_temp(name: str, st: os.stat_result, now: float) -> bool:
    """A temp file a killed run of ours left: our exact name pattern, a regular file of this
    user, at least STALE_AFTER old, and its writer gone (pid not running, or no pid in the
    name, or older than DEAD_AFTER)."""
    m = _TEMP.match(name)
    if not m or not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        return False
    age = now - st.st_mtime
    if age < STALE_AFTER:
        return False
    return m[1] is None or age >= DEAD_AFTER or not _pid_alive(int(m[1]))


def remove_stale_temps(directory: Path) -> list[str]:
    """Delete the stale temp files of ours in `directory` (through its handle); their names."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return []
    removed = []
    try:
        now = time.time()
        for name in os.listdir(fd):
            if not _TEMP.match(name):
                continue
            with contextlib.suppress(OSError):
                if is_stale_temp(name, os.stat(name, dir_fd=fd, follow_symlinks=False), now):
                    os.unlink(name, dir_fd=fd)
                    removed.append(name)
    except OSError:
        pass  # best effort: a leftover temp file is clutter, not a failure
    finally:
        os.close(fd)
    return removed


def _write_temp(path: Path, data: bytes, mode: int, owner: Owner) -> Path:
    remove_stale_temps(path.parent)
    tmp = _temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, mode & 0o600)  # never more than the owner before fchmod
    try:
        os.fchmod(fd, mode)  # the umask must not loosen or tighten what we ask for
        if owner:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    return tmp


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some network file systems refuse fsync on a directory
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, *, mode: int, owner: Owner) -> None:
    """Create `path` with `data`; fail with ConflictError if anything is already there."""
    if os.path.lexists(path):
        raise ConflictError(f"{path} already exists; not overwriting it")
    try:
        tmp = _write_temp(path, data, mode, owner)
    except OSError as exc:
        raise _describe(exc, path) from None
    try:
        os.link(tmp, path)  # link() never replaces: an atomic "create if absent"
    except FileExistsError:
        raise ConflictError(f"{path} appeared while writing; not overwriting it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            _unlink_quietly(tmp)
            raise _describe(exc, path) from None
        os.replace(tmp, path)  # file systems without hard links (some network shares)
    finally:
        _unlink_quietly(tmp)
    _fsync_dir(path.parent)


def check_replaceable(path: Path) -> os.stat_result | None:
    """The current file's stat (None if absent); refuse symlinks and non-regular files."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _describe(exc, path) from None
    if stat.S_ISLNK(st.st_mode):
        raise ConflictError(
            f"{path} is a symbolic link; refusing to replace it",
            hint="point the option at the real file, or replace the link with a regular file",
        )
    if not stat.S_ISREG(st.st_mode):
        raise ConflictError(f"{path} exists and is not a regular file")
    return st


def replace_file(path: Path, data: bytes, *, default_mode: int, owner: Owner, mode: int | None = None) -> None:
    """Atomically replace (or create) `path`, keeping the mode and owner of the old file (or `mode`)."""
    st = check_replaceable(path)
    if mode is None:
        mode = stat.S_IMODE(st.st_mode) if st else default_mode
    if owner is None and st is not None and os.geteuid() == 0 and st.st_uid != 0:
        owner = (st.st_uid, st.st_gid)  # root editing a user's file keeps it theirs
    try:
        tmp = _write_temp(path, data, mode, owner)
    except OSError as exc:
        raise _describe(exc, path) from None
    try:
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise _describe(exc, path) from None
    _fsync_dir(path.parent)


def write_temp(path: Path, data: bytes, *, mode: int, owner: Owner) -> Path:
    """A complete, fsynced temp file beside `path`, for `commit_temp` (a rename) later."""
    check_replaceable(path)
    try:
        return _write_temp(path, data, mode, owner)
    except OSError as exc:
        raise _describe(exc, path) from None


def commit_temp(tmp: Path, path: Path) -> None:
    """Rename a `write_temp` file over `path` (atomic); the caller fsyncs the directory."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise _describe(exc, path) from None


def discard_temp(tmp: Path) -> None:
    _unlink_quietly(tmp)


def fsync_dir(directory: Path) -> None:
    _fsync_dir(directory)


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, None if absent; refuse to read through a symlink for a write target."""
    check_replaceable(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError(f"cannot read {path}: {os.strerror(exc.errno or 0)}") from None
