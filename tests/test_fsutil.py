"""fsutil: path text checks, and stale temp files a SIGKILL left behind."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.run import onboard

from onboarding import fsutil
from onboarding.errors import ConflictError, UsageError


@pytest.mark.parametrize("text", ["a\nb/key", "key\r", "k\x00ey", "k\x1b[31mey", "key\x7f"])
def test_path_with_control_characters_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--key-file"):
        fsutil.check_path_text(Path(text), "--key-file")


def test_plain_paths_pass() -> None:
    fsutil.check_path_text(Path("/home/u/.ssh/id work ünïcode"), "--key-file")


def test_keygen_with_a_newline_in_key_file_creates_nothing(home: Path) -> None:
    r = onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519", "--key-file", str(home / "a\nb" / "key"))
    assert r.returncode == 2, r.output
    assert "control character" in r.stderr
    assert sorted(p.name for p in home.iterdir()) == [".gitconfig"]


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid  # reaped: no process has this pid (until reused, which the test would survive)


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def test_next_write_removes_only_stale_temps_of_its_own_pattern(home: Path, tmp_path: Path) -> None:
    d = home / ".ssh"
    d.mkdir(mode=0o700)
    stale = [f".known_hosts.onboard-{dead_pid()}-0123abcd.tmp",   # killed writer
             ".known_hosts.onboard-deadbeef.tmp",                  # previous version (no pid)
             f".config.onboard-{os.getpid()}-0123abcd.tmp"]        # a live pid, but hours old
    kept = [f".known_hosts.onboard-{os.getpid()}-feedf00d.tmp",    # a live writer, old enough
            f".known_hosts.onboard-{dead_pid()}-11111111.tmp",     # a writer gone a moment ago
            ".known_hosts.onboard-xyz.tmp", "known_hosts.onboard-deadbeef.tmp", ".known_hosts.tmp"]
    for name in stale + kept:
        (d / name).write_bytes(b"x" * 100)
        age(d / name, 30)
    age(d / stale[2], 2 * fsutil.DEAD_AFTER)
    age(d / kept[1], 0)
    decoy = tmp_path / "decoy"
    decoy.write_text("victim")
    link = d / ".id_rsa.onboard-deadbeef.tmp"
    link.symlink_to(decoy)  # our pattern, but a symlink: not ours
    age(link, 30)

    r = onboard("hosts", "verify", "github", "--offline", "--no-hash")
    assert r.returncode == 0, r.output
    left = {p.name for p in d.iterdir()}
    assert not left & set(stale)
    assert set(kept) | {link.name, "known_hosts"} <= left
    assert decoy.read_text() == "victim"


def test_temps_of_another_user_are_left_alone(home: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    d = home / ".ssh"
    d.mkdir(mode=0o700)
    theirs = d / ".known_hosts.onboard-deadbeef.tmp"
    theirs.write_bytes(b"x")
    os.chown(theirs, 65534, 65534)
    age(theirs, 30)
    assert fsutil.remove_stale_temps(d) == []
    assert theirs.exists()


def test_sigkill_leftover_is_removed_by_the_next_run(home: Path) -> None:
    from helpers.faults import killed_at

    d = home / ".ssh"
    d.mkdir(mode=0o700)
    (d / "known_hosts").write_bytes(b"# mine\n")
    assert killed_at(2, str(d), "hosts", "verify", "github", "--offline", "--no-hash") == -signal.SIGKILL
    leftovers = [p for p in d.iterdir() if p.name.startswith(".known_hosts.onboard-")]
    assert len(leftovers) == 1  # created, then killed before the rename
    age(leftovers[0], 30)
    assert onboard("hosts", "verify", "github", "--offline", "--no-hash").returncode == 0
    assert sorted(p.name for p in d.iterdir()) == ["known_hosts"]


def test_a_key_outside_ssh_never_changes_its_directorys_mode(home: Path, tmp_path: Path) -> None:
    """`--key-file /tmp/k` once chmodded /tmp to 0700 (as root: every other user lost /tmp)."""
    from helpers.cli import run

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    r = run("keygen", "-y", "--no-passphrase", "--key-type", "ed25519", "--key-file", str(shared / "k"))
    assert r.code == 0, r.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777 and (shared / "k").exists()
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)  # not sticky: anyone could rename another key into place
    r = run("keygen", "-y", "--no-passphrase", "--key-type", "ed25519", "--key-file", str(loose / "k"))
    assert r.code == 5 and "can be written by others" in r.stderr
    assert stat.S_IMODE(loose.stat().st_mode) == 0o777 and not (loose / "k").exists()
# -- in-process: the write primitives themselves ------------------------------------------
@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that filters nothing: modes must come from the code, not from the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def temps(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".onboard-" in p.name]


def test_stale_temps_are_judged_by_name_owner_age_and_writer(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    stale = [f".known_hosts.onboard-{dead_pid()}-0123abcd.tmp", ".config.onboard-deadbeef.tmp",
             f".id_rsa.onboard-{os.getpid()}-0123abcd.tmp"]
    kept = [f".known_hosts.onboard-{os.getpid()}-feedf00d.tmp", f".x.onboard-{dead_pid()}-11111111.tmp",
            ".x.onboard-xyz.tmp", "x.onboard-deadbeef.tmp", ".x.onboard-deadbeef.tmp.bak"]
    for name in stale + kept:
        (d / name).write_bytes(b"x")
        age(d / name, 30)
    age(d / stale[2], fsutil.DEAD_AFTER + 60)  # a live pid, but older than any write of ours
    age(d / kept[1], fsutil.STALE_AFTER - 5)  # its writer is gone, but only a moment ago
    (d / ".dir.onboard-deadbeef.tmp").mkdir()  # our pattern, not a regular file
    age(d / ".dir.onboard-deadbeef.tmp", 30)
    assert sorted(fsutil.remove_stale_temps(d)) == sorted(stale)
    assert sorted(p.name for p in d.iterdir()) == sorted([*kept, ".dir.onboard-deadbeef.tmp"])
    assert fsutil.remove_stale_temps(tmp_path / "missing") == []


def test_stale_temp_boundaries() -> None:
    st = os.stat(__file__)
    now = st.st_mtime
    name = f".k.onboard-{dead_pid()}-0123abcd.tmp"
    assert not fsutil.is_stale_temp(name, st, now + fsutil.STALE_AFTER - 0.5)
    assert fsutil.is_stale_temp(name, st, now + fsutil.STALE_AFTER)
    live = f".k.onboard-{os.getpid()}-0123abcd.tmp"
    assert not fsutil.is_stale_temp(live, st, now + fsutil.DEAD_AFTER - 1)
    assert fsutil.is_stale_temp(live, st, now + fsutil.DEAD_AFTER)
    folder = os.lstat(Path(__file__).parent)  # our name pattern, but not a regular file: never ours
    assert not fsutil.is_stale_temp(name, folder, folder.st_mtime + fsutil.DEAD_AFTER)
    assert not fsutil.is_stale_temp(".k.onboard-xyz.tmp", st, now + fsutil.DEAD_AFTER)


def test_a_missing_private_dir_is_created_0700_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    d = tmp_path / "a" / "b" / ".ssh"  # missing parents are made too (--key-file in a new folder)
    assert fsutil.ensure_private_dir(d, None) == f"created {d} (mode 0700)"
    assert mode(d) == 0o700 and d.is_dir()
    assert fsutil.ensure_private_dir(d, None) is None  # already right: nothing done


@pytest.mark.parametrize("loose", [0o755, 0o770, 0o701, 0o710])
def test_a_loose_private_dir_is_tightened(tmp_path: Path, loose: int) -> None:
    d = tmp_path / ".ssh"
    d.mkdir()
    d.chmod(loose)
    assert fsutil.ensure_private_dir(d, None) == f"tightened {d} from {loose:04o} to 0700"
    assert mode(d) == 0o700


def test_a_private_dir_that_is_a_symlink_or_a_file_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    link = tmp_path / ".ssh"
    link.symlink_to(victim)
    with pytest.raises(ConflictError, match="symbolic link"):
        fsutil.ensure_private_dir(link, None)
    assert mode(victim) == 0o755  # never chmod through the link
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ConflictError, match="not a directory"):
        fsutil.ensure_private_dir(f, None)


def test_a_private_dir_of_another_owner_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    d = tmp_path / ".ssh"
    d.mkdir(mode=0o755)
    os.chown(d, 65534, 65534)
    with pytest.raises(ConflictError, match="owned by uid 65534"):
        fsutil.ensure_private_dir(d, None)
    assert mode(d) == 0o755
    assert fsutil.ensure_private_dir(d, (65534, 65533)) == f"tightened {d} from 0755 to 0700"  # theirs: fine
    fresh = tmp_path / "fresh"
    fsutil.ensure_private_dir(fresh, (65534, 65533))
    assert (os.stat(fresh).st_uid, os.stat(fresh).st_gid) == (65534, 65533)


def test_write_new_creates_exactly_the_mode_asked(tmp_path: Path, open_umask: None) -> None:
    key = tmp_path / "id"
    fsutil.write_new(key, b"secret", mode=0o600, owner=None)
    assert key.read_bytes() == b"secret" and mode(key) == 0o600
    pub = tmp_path / "id.pub"
    fsutil.write_new(pub, b"public", mode=0o644, owner=None)
    assert mode(pub) == 0o644
    assert temps(tmp_path) == []


def test_write_new_never_replaces_anything(tmp_path: Path) -> None:
    existing = tmp_path / "id"
    existing.write_bytes(b"old")
    with pytest.raises(ConflictError, match="already exists"):
        fsutil.write_new(existing, b"new", mode=0o600, owner=None)
    assert existing.read_bytes() == b"old"
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "target")
    with pytest.raises(ConflictError, match="already exists"):
        fsutil.write_new(dangling, b"new", mode=0o600, owner=None)
    assert not (tmp_path / "target").exists()
    assert temps(tmp_path) == []


def test_write_new_loses_a_race_without_overwriting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer creates the file between our check and our link(): theirs stays."""
    path = tmp_path / "id"
    real_link = os.link

    def racing_link(src: str, dst: str, **kw: object) -> None:
        Path(dst).write_bytes(b"theirs")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(ConflictError, match="appeared while writing"):
        fsutil.write_new(path, b"ours", mode=0o600, owner=None)
    assert path.read_bytes() == b"theirs"
    assert temps(tmp_path) == []


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK])
def test_write_new_without_hard_links_falls_back_to_a_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              open_umask: None, code: int) -> None:
    """File systems without hard links (some network shares) refuse link(): the file is still written whole."""
    def no_links(src: str, dst: str, **kw: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "id"
    fsutil.write_new(path, b"secret", mode=0o600, owner=None)
    assert path.read_bytes() == b"secret" and mode(path) == 0o600
    assert temps(tmp_path) == []


def test_write_new_reports_another_link_error_and_leaves_no_temp(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(src: str, dst: str, **kw: object) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "link", denied)
    with pytest.raises(fsutil.WriteError, match="Permission denied") as err:
        fsutil.write_new(tmp_path / "id", b"secret", mode=0o600, owner=None)
    assert err.value.hint and "ls -ld" in err.value.hint
    assert not (tmp_path / "id").exists() and temps(tmp_path) == []


def test_replace_file_keeps_the_old_mode_or_uses_the_default(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "known_hosts"
    fsutil.replace_file(path, b"one\n", default_mode=0o644, owner=None)
    assert mode(path) == 0o644 and path.read_bytes() == b"one\n"
    path.chmod(0o600)
    fsutil.replace_file(path, b"two\n", default_mode=0o644, owner=None)
    assert mode(path) == 0o600 and path.read_bytes() == b"two\n"
    fsutil.replace_file(path, b"three\n", default_mode=0o644, owner=None, mode=0o640)
    assert mode(path) == 0o640
    assert temps(tmp_path) == []


def test_replace_file_refuses_a_symlink_and_a_directory(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    link = tmp_path / "config"
    link.symlink_to(victim)
    with pytest.raises(ConflictError, match="symbolic link"):
        fsutil.replace_file(link, b"x", default_mode=0o644, owner=None)
    with pytest.raises(ConflictError, match="symbolic link"):
        fsutil.read_bytes(link)
    with pytest.raises(ConflictError, match="symbolic link"):
        fsutil.write_temp(link, b"x", mode=0o600, owner=None)
    assert victim.read_bytes() == b"keep" and link.is_symlink()
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConflictError, match="not a regular file"):
        fsutil.replace_file(tmp_path / "dir", b"x", default_mode=0o644, owner=None)
    assert fsutil.read_bytes(tmp_path / "absent") is None
    assert temps(tmp_path) == []


def test_root_editing_a_users_file_keeps_it_theirs(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    path = tmp_path / "config"
    path.write_bytes(b"old")
    os.chown(path, 65534, 65534)
    fsutil.replace_file(path, b"new", default_mode=0o644, owner=None)
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (65534, 65534) and path.read_bytes() == b"new"
    mine = tmp_path / "mine"
    mine.write_bytes(b"old")
    fsutil.replace_file(mine, b"new", default_mode=0o644, owner=None)
    assert os.stat(mine).st_uid == 0


def test_write_temp_and_commit(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"old")
    tmp = fsutil.write_temp(path, b"new", mode=0o600, owner=None)
    assert tmp.parent == tmp_path and path.read_bytes() == b"old" and mode(tmp) == 0o600
    fsutil.commit_temp(tmp, path)
    assert path.read_bytes() == b"new" and not tmp.exists()
    other = fsutil.write_temp(path, b"newer", mode=0o600, owner=None)
    fsutil.discard_temp(other)
    assert path.read_bytes() == b"new" and temps(tmp_path) == []


@pytest.mark.parametrize(("code", "hint"), [
    (errno.EACCES, "check who owns {d} (ls -ld {d}); run as that user or as root with --user"),
    (errno.EPERM, "check who owns {d} (ls -ld {d}); run as that user or as root with --user"),
    (errno.ENOSPC, "free some disk space and run the command again; nothing was changed"),
    (errno.EDQUOT, "free some disk space and run the command again; nothing was changed"),
    (errno.EFBIG, "free some disk space and run the command again; nothing was changed"),
    (errno.EROFS, "that file system is read-only"),
    (errno.EIO, None),
])
def test_write_errors_say_what_to_do(tmp_path: Path, code: int, hint: str | None) -> None:
    err = fsutil._describe(OSError(code, "x"), tmp_path / "f")
    assert err.message == f"cannot write {tmp_path / 'f'}: {os.strerror(code)}"
    assert err.hint == (hint.format(d=tmp_path) if hint else None)
    assert fsutil._describe(OSError("no errno"), tmp_path / "f").message == f"cannot write {tmp_path / 'f'}: no errno"


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """fsync() fails with ENOSPC, as it does when the data cannot reach a full disk or quota
    (a file size rlimit would be more real, but it also hits the test runner's own output)."""
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)


@pytest.mark.usefixtures("full_disk")
def test_a_full_disk_is_a_write_error_naming_the_file_and_changes_nothing(tmp_path: Path) -> None:
    big = b"x" * 1000
    old = tmp_path / "known_hosts"
    old.write_bytes(b"old\n")
    calls = [
        (tmp_path / "id", lambda: fsutil.write_new(tmp_path / "id", big, mode=0o600, owner=None)),
        (old, lambda: fsutil.replace_file(old, big, default_mode=0o644, owner=None)),
        (old, lambda: fsutil.write_temp(old, big, mode=0o600, owner=None)),
    ]
    for path, call in calls:
        with pytest.raises(fsutil.WriteError) as err:
            call()
        assert err.value.message == f"cannot write {path}: {os.strerror(errno.ENOSPC)}"
        assert err.value.hint == "free some disk space and run the command again; nothing was changed"
    assert old.read_bytes() == b"old\n" and not (tmp_path / "id").exists()
    assert temps(tmp_path) == []


def test_write_errors_name_the_file_written(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder anyway")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(fsutil.WriteError, match=f"cannot write {ro / 'id'}: Permission denied"):
        fsutil.write_new(ro / "id", b"x", mode=0o600, owner=None)


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"old")

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", cross_device)
    with pytest.raises(fsutil.WriteError, match=f"cannot write {path}: "):
        fsutil.replace_file(path, b"new", default_mode=0o644, owner=None)
    assert path.read_bytes() == b"old" and temps(tmp_path) == []
    monkeypatch.undo()
    tmp = fsutil.write_temp(path, b"new", mode=0o600, owner=None)
    tmp.unlink()
    with pytest.raises(fsutil.WriteError, match=f"cannot write {path}: No such file or directory"):
        fsutil.commit_temp(tmp, path)
    assert path.read_bytes() == b"old"


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "known_hosts"
    path.write_bytes(b"x")

    def broken(self: Path) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(Path, "read_bytes", broken)
    with pytest.raises(fsutil.WriteError) as err:
        fsutil.read_bytes(path)
    assert err.value.message == f"cannot read {path}: {os.strerror(errno.EIO)}"


@pytest.mark.parametrize("uid", [1, 65534])
def test_files_written_for_another_owner_are_theirs(tmp_path: Path, uid: int) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to write a file for another user")
    fsutil.write_new(tmp_path / "id", b"k", mode=0o600, owner=(uid, uid))
    tmp = fsutil.write_temp(tmp_path / "cfg", b"c", mode=0o644, owner=(uid, uid))
    fsutil.replace_file(tmp_path / "kh", b"h", default_mode=0o644, owner=(uid, uid))
    for p in (tmp_path / "id", tmp, tmp_path / "kh"):
        assert (os.stat(p).st_uid, os.stat(p).st_gid) == (uid, uid), p
    theirs = tmp_path / "theirs"
    theirs.write_bytes(b"old")
    os.chown(theirs, uid, uid)
    fsutil.replace_file(theirs, b"new", default_mode=0o644, owner=None)  # root editing a user's file
    assert os.stat(theirs).st_uid == uid


def test_a_planted_file_or_link_at_the_temp_name_is_never_written_through(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An attacker who guesses the temp name and plants a link there (to a file of the victim's) or a file."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim's data")
    planted = tmp_path / ".id.onboard-1-deadbeef.tmp"
    monkeypatch.setattr(fsutil, "_temp_name", lambda path: planted)
    for plant in (lambda: planted.symlink_to(victim), lambda: planted.write_bytes(b"attacker's")):
        plant()
        with pytest.raises(fsutil.WriteError):
            fsutil.write_new(tmp_path / "id", b"secret key", mode=0o600, owner=None)
        assert victim.read_bytes() == b"victim's data" and not (tmp_path / "id").exists()
        assert planted.is_symlink() or planted.read_bytes() == b"attacker's"
        planted.unlink()


def test_a_temp_left_by_a_killed_write_is_removed_by_a_later_write(tmp_path: Path) -> None:
    """As a SIGKILL between writing and renaming leaves it: once stale, the next write in the folder removes it."""
    left = fsutil.write_temp(tmp_path / "known_hosts", b"half", mode=0o600, owner=None)
    age(left, fsutil.DEAD_AFTER + 60)  # our own pid is alive: only its age says the writer is gone
    fsutil.replace_file(tmp_path / "config", b"x", default_mode=0o644, owner=None)
    assert not left.exists() and temps(tmp_path) == []


@pytest.mark.parametrize("loose", [0o620, 0o770, 0o777])
def test_a_folder_others_can_write_is_refused_for_a_key_and_keeps_its_mode(tmp_path: Path, loose: int) -> None:
    """--key-file in a folder others could write (0620 too: writable without x): refused, never chmodded."""
    d = tmp_path / "keys"
    d.mkdir()
    d.chmod(loose)
    with pytest.raises(ConflictError, match="can be written by others"):
        fsutil.ensure_private_dir(d, None)
    assert mode(d) == loose


def test_a_temp_file_is_owner_only_from_its_first_instant(tmp_path: Path, open_umask: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Another account that opens the temp before its chmod could read the key through that handle
    later: the file must be created 0600 or tighter, whatever mode it ends with."""
    seen: list[int] = []
    real_fchmod = os.fchmod

    def watching_fchmod(fd: int, mode_: int) -> None:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fchmod(fd, mode_)

    monkeypatch.setattr(os, "fchmod", watching_fchmod)
    fsutil.write_new(tmp_path / "k.pub", b"public\n", mode=0o644, owner=None)
    fsutil.replace_file(tmp_path / "config", b"x\n", default_mode=0o644, owner=None)
    assert seen and all(m & 0o077 == 0 for m in seen), [oct(m) for m in seen]
    assert mode(tmp_path / "k.pub") == 0o644


def test_a_private_dir_that_cannot_be_made_is_a_write_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    d = tmp_path / "afile" / ".ssh"
    with pytest.raises(fsutil.WriteError, match=f"cannot write {d}: "):
        fsutil.ensure_private_dir(d, None)


def test_a_loose_ssh_dir_that_cannot_be_tightened_is_a_write_error(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / ".ssh"
    d.mkdir(mode=0o755)
    d.chmod(0o755)

    def denied(path: object, mode_: int, **kw: object) -> None:
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "chmod", denied)
    with pytest.raises(fsutil.WriteError, match=f"cannot write {d}: {os.strerror(errno.EPERM)}") as caught:
        fsutil.ensure_private_dir(d, None)
    assert caught.value.hint and str(d.parent) in caught.value.hint


def test_a_file_under_a_file_is_a_write_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "config"
    with pytest.raises(fsutil.WriteError, match=f"cannot write {target}: {os.strerror(errno.ENOTDIR)}"):
        fsutil.check_replaceable(target)


def test_stale_temps_are_never_removed_through_a_symlinked_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    stale = real / f".k.onboard-{dead_pid()}-0123abcd.tmp"
    stale.write_bytes(b"x")
    age(stale, 60)
    link = tmp_path / ".ssh"
    link.symlink_to(real)
    assert fsutil.remove_stale_temps(link) == []
    assert stale.exists()
    assert fsutil.remove_stale_temps(real) == [stale.name]  # the same file, reached for real: removed


def test_a_fifo_where_the_folder_should_be_is_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert fsutil.remove_stale_temps(fifo) == []  # opened as a folder only: no reader waits for a writer


def test_judging_a_temp_never_signals_its_writer(tmp_path: Path) -> None:
    """The pid in a temp's name is only asked about (signal 0): a live writer is left running."""
    writer = subprocess.Popen(["sleep", "30"])
    try:
        temp = tmp_path / f".k.onboard-{writer.pid}-0123abcd.tmp"
        temp.write_bytes(b"x")
        age(temp, 60)
        assert fsutil.remove_stale_temps(tmp_path) == []
        time.sleep(0.2)
        assert writer.poll() is None and temp.exists()
    finally:
        writer.kill()
        writer.wait()


def test_a_link_named_like_a_stale_temp_is_not_ours(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.write_bytes(b"x")
    age(old, 60)
    link = tmp_path / f".k.onboard-{dead_pid()}-0123abcd.tmp"
    link.symlink_to(old)
    age(link, 60)
    assert fsutil.remove_stale_temps(tmp_path) == []
    assert link.is_symlink() and old.exists()


def test_a_temp_that_cannot_be_removed_does_not_stop_the_others(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f".k{i}.onboard-{dead_pid()}-0123abcd.tmp" for i in range(3)]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, 60)
    real_unlink = os.unlink
    stuck = names[1]

    def unlink(path: str, *, dir_fd: int | None = None) -> None:
        if path == stuck:
            raise PermissionError(errno.EACCES, "denied")
        real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", unlink)
    assert sorted(fsutil.remove_stale_temps(tmp_path)) == sorted([names[0], names[2]])


def test_a_private_dir_under_a_dangling_link_is_a_write_error_naming_it(tmp_path: Path) -> None:
    """lstat says "missing", yet the folder cannot be made: a parent is a link to nowhere."""
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    d = tmp_path / "gone" / ".ssh"
    with pytest.raises(fsutil.WriteError, match=f"^cannot write {d}: {os.strerror(errno.EEXIST)}$"):
        fsutil.ensure_private_dir(d, None)
    assert not (tmp_path / "nowhere").exists()
