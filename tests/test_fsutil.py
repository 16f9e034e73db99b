"""fsutil: path text checks, and stale temp files a SIGKILL left behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from helpers.run import onboard

from onboarding import fsutil
from onboarding.errors import UsageError


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
    from tests.helpers.faults import killed_at

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
