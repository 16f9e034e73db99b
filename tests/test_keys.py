"""keys: a --force killed at any instant, or failing on a full disk, still leaves a matching pair."""

from __future__ import annotations

import base64
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import run_env
from helpers.faults import killed_at

from onboarding import keys
from onboarding.errors import ConflictError, UsageError

PASS = "correct horse battery"
ARGS = ("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--passphrase-env", "PW")
ENV = {"PW": PASS}


def public_of(key: Path) -> list[str]:
    """What real ssh-keygen says the private key's public half is ('type base64')."""
    out = subprocess.run(["ssh-keygen", "-y", "-P", PASS, "-f", str(key)], capture_output=True, text=True,
                         check=True, stdin=subprocess.DEVNULL)
    return out.stdout.split()[:2]


def assert_matching_pair(key: Path) -> None:
    assert public_of(key) == Path(str(key) + ".pub").read_text().split()[:2]


def test_force_killed_at_every_step_then_a_run_leaves_a_matching_pair(home: Path) -> None:
    key = home / ".ssh" / "id_ed25519"
    assert run_env(*ARGS, env=ENV).returncode == 0
    step = 0
    while True:
        step += 1
        status = killed_at(step, str(home / ".ssh"), *ARGS, "--force", env=ENV)
        if status == 0:
            break  # past the last change: the run completed
        assert status == -signal.SIGKILL, status
        public_of(key)  # the private key is whole: real ssh-keygen opens it (old or new)
        r = run_env(*ARGS, env=ENV)  # the next ordinary run
        assert r.returncode == 0, (step, r.output)
        assert_matching_pair(key)
        assert step < 40, "the --force run never completed"
    print(f"--force made {step - 1} changes")
    assert step - 1 >= 6  # two temp files, two backup links, the two renames
    assert_matching_pair(key)


def test_killed_between_the_two_renames_is_repaired_from_the_private_key(home: Path) -> None:
    key, pub = home / ".ssh" / "id_ed25519", home / ".ssh" / "id_ed25519.pub"
    assert run_env(*ARGS, env=ENV).returncode == 0
    old_pub = pub.read_bytes()
    other = home / "other"
    assert run_env(*ARGS, "--key-file", str(other), env=ENV).returncode == 0
    os.replace(other, key)  # a new private key with the old .pub: what a kill between renames leaves
    r = run_env(*ARGS, env={"PW": "wrong passphrase"})  # the repair needs no passphrase...
    assert pub.read_bytes() != old_pub
    assert_matching_pair(key)
    assert r.returncode == 5  # ...and reuse still checks it
    r = run_env(*ARGS, env=ENV)
    assert r.returncode == 0, r.output
    kept = list((home / ".ssh").glob("id_ed25519.pub.mismatched-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == old_pub  # nothing overwritten silently


def test_public_blob_is_read_without_the_passphrase(home: Path) -> None:
    key = home / "k"
    assert run_env(*ARGS, "--key-file", str(key), env=ENV).returncode == 0
    blob = keys.public_blob_of(key.read_bytes())
    assert blob is not None
    assert keys.fingerprint_of_blob(blob) == keys.fingerprint_of_line(" ".join(public_of(key)))
    assert keys.public_blob_of(b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END") is None


def test_force_on_a_full_disk_leaves_no_backup_and_changes_nothing(home: Path) -> None:
    assert run_env("keygen", "-y", "--no-passphrase", "--key-type", "rsa").returncode == 0
    ssh = home / ".ssh"
    before = {p.name: p.read_bytes() for p in ssh.iterdir()}

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))  # the new 4096-bit key does not fit

    proc = subprocess.run([sys.executable, "-m", "onboarding", "keygen", "-y", "--no-passphrase", "--key-type",
                           "rsa", "--force"], capture_output=True, text=True, preexec_fn=limit,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "nothing was changed" in proc.stderr
    assert {p.name: p.read_bytes() for p in ssh.iterdir()} == before  # no .bak links, no temp files


# -- in-process: keys.ensure_key and what ssh-keygen makes of its files ---------------------
PASSB = PASS.encode()


def request(path: Path, **kw: object) -> keys.KeyRequest:
    args: dict[str, object] = {"path": path, "key_type": "ed25519", "bits": 0, "comment": "me@example.com",
                               "passphrase": PASSB, "rounds": 4, "force": False, "owner": None}
    args.update(kw)
    return keys.KeyRequest(**args)  # type: ignore[arg-type]


def keygen_public(path: Path, passphrase: bytes) -> str:
    """What OpenSSH itself reads from the private key (fails on a wrong passphrase)."""
    done = subprocess.run(["ssh-keygen", "-y", "-P", passphrase.decode(), "-f", str(path)], capture_output=True,
                          text=True, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_new_pair_is_0600_and_0644_and_opens_only_with_its_passphrase(home: Path) -> None:
    old = os.umask(0)
    try:
        r = keys.ensure_key(request(home / ".ssh" / "id_ed25519"))
    finally:
        os.umask(old)
    assert r.status == "created" and r.encrypted and r.key_type == "ed25519" and r.bits is None
    assert stat.S_IMODE(os.stat(r.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(r.public_path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(home / ".ssh").st_mode) == 0o700
    assert keygen_public(r.path, PASSB).split()[:2] == r.public_line.split()[:2]
    assert r.public_line == r.public_path.read_text() and r.public_line.endswith(" me@example.com\n")
    assert keys.is_encrypted(r.path)
    bad = subprocess.run(["ssh-keygen", "-y", "-P", "wrong passphrase", "-f", str(r.path)], capture_output=True,
                         check=False, stdin=subprocess.DEVNULL)
    assert bad.returncode != 0
    assert r.fingerprint == keys.fingerprint_of_line(r.public_line)
    assert PASSB not in r.path.read_bytes()


def test_an_unprotected_key_is_reused_with_a_note(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    keys.ensure_key(request(path, passphrase=None))
    assert not keys.is_encrypted(path)
    r = keys.ensure_key(request(path, passphrase=None))
    assert r.status == "reused" and not r.encrypted
    assert any("has no passphrase" in n for n in r.notes)


def test_an_existing_key_is_reused_never_overwritten(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    first = keys.ensure_key(request(path))
    data = path.read_bytes()
    again = keys.ensure_key(request(path, comment="other@example.com"))
    assert again.status == "reused" and again.fingerprint == first.fingerprint and path.read_bytes() == data
    assert again.public_line == first.public_line  # the .pub as it is, its comment included
    keys._OPENED.clear()  # as a new process: the passphrase is checked against the file
    with pytest.raises(ConflictError, match="does not open with this passphrase"):
        keys.ensure_key(request(path, passphrase=b"not the passphrase"))
    with pytest.raises(ConflictError, match="protected by a passphrase, but none was given"):
        keys.ensure_key(request(path, passphrase=None))
    assert path.read_bytes() == data


def test_a_missing_or_mismatched_pub_is_rewritten_from_the_private_key(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    r = keys.ensure_key(request(path))
    r.public_path.unlink()
    again = keys.ensure_key(request(path))
    assert r.public_path.read_text().split()[:2] == r.public_line.split()[:2]
    assert any("wrote the missing" in n for n in again.notes)
    stranger = keys.ensure_key(request(home / "other" / "id", passphrase=None))
    r.public_path.write_text(stranger.public_line)  # as a --force killed between its two renames leaves it
    repaired = keys.ensure_key(request(path))
    assert r.public_path.read_text().split()[:2] == r.public_line.split()[:2]
    assert any("did not match" in n for n in repaired.notes)
    kept = list(r.public_path.parent.glob("id_ed25519.pub.mismatched-*"))
    assert [k.read_text() for k in kept] == [stranger.public_line]  # what was replaced is kept


def test_force_keeps_the_old_pair_as_a_backup(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    old = keys.ensure_key(request(path))
    old_data, old_pub = path.read_bytes(), old.public_path.read_text()
    new = keys.ensure_key(request(path, force=True))
    assert new.status == "replaced" and new.fingerprint != old.fingerprint and new.backup is not None
    assert new.backup.read_bytes() == old_data and Path(str(new.backup) + ".pub").read_text() == old_pub
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keygen_public(path, PASSB).split()[:2] == new.public_line.split()[:2]
    third = keys.ensure_key(request(path, force=True))  # same second: the backup name does not collide
    assert third.backup != new.backup and third.backup is not None and third.backup.exists()


def test_a_lone_pub_is_a_conflict_unless_forced(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    path.parent.mkdir(mode=0o700)
    Path(str(path) + ".pub").write_text("ssh-ed25519 AAAA stray\n")
    with pytest.raises(ConflictError, match="exists without its private key"):
        keys.ensure_key(request(path))
    assert not path.exists()
    r = keys.ensure_key(request(path, force=True))
    assert r.status == "replaced" and r.backup is not None
    assert Path(str(r.backup) + ".pub").read_text() == "ssh-ed25519 AAAA stray\n"


def test_symlinked_key_files_are_refused(home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    path = home / ".ssh" / "id_ed25519"
    path.parent.mkdir(mode=0o700)
    path.symlink_to(victim)
    with pytest.raises(ConflictError, match="symbolic link"):
        keys.ensure_key(request(path, force=True))
    assert victim.read_text() == "keep"


@pytest.mark.parametrize(("comment", "words"), [
    ("a\nb", "one line"), ("a\x7fb", "one line"), ("x" * 257, "at most 256"), ("bad\udcff", "not valid UTF-8"),
])
def test_bad_comments_are_refused(home: Path, comment: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        keys.ensure_key(request(home / ".ssh" / "id", comment=comment))
    assert not (home / ".ssh").exists()
    assert keys.check_comment("x" * 256) == "x" * 256


def test_a_short_passphrase_is_refused(home: Path) -> None:
    with pytest.raises(UsageError, match="too short"):
        keys.ensure_key(request(home / ".ssh" / "id", passphrase=b"x" * (keys.MIN_PASSPHRASE - 1)))
    keys.check_passphrase(b"x" * keys.MIN_PASSPHRASE)


def test_rsa_keys_have_the_bits_asked(home: Path) -> None:
    r = keys.ensure_key(request(home / ".ssh" / "id_rsa", key_type="rsa", bits=3072, passphrase=None))
    assert (r.key_type, r.bits) == ("rsa", 3072)
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(r.public_path)], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("3072 ") and "(RSA)" in out


def test_the_public_blob_is_read_from_the_header_without_the_passphrase(home: Path) -> None:
    r = keys.ensure_key(request(home / ".ssh" / "id_ed25519"))
    blob = keys.public_blob_of(r.path.read_bytes())
    assert blob is not None and base64.b64encode(blob).decode() == r.public_line.split()[1]
    assert keys.public_blob_of(b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n") is None
    assert keys.public_blob_of(b"not base64 at all!") is None
