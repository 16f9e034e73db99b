"""keys: a --force killed at any instant, or failing on a full disk, still leaves a matching pair."""

from __future__ import annotations

import base64
import errno
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.cli import run_env
from helpers.faults import killed_at

from onboarding import fsutil, keys
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


# -- what OpenSSH sees of the pair, and every path a reuse or a --force can take ------------
def keygen_fingerprint(path: Path) -> str:
    """The SHA256 fingerprint real `ssh-keygen -lf` prints for a key file."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)], capture_output=True, text=True,
                         check=True, stdin=subprocess.DEVNULL).stdout
    return out.split()[1]


def keygen_make(path: Path, *args: str, passphrase: str = "") -> None:
    """A key made by real ssh-keygen (another type or format than ours), without ~/.ssh fuss."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", *args, "-N", passphrase, "-C", "made@elsewhere", "-f", str(path)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)


def header(path: Path) -> tuple[bytes, bytes, bytes]:
    """(cipher, kdf, kdf options) from an OpenSSH private key's unencrypted header (PROTOCOL.key)."""
    body = b"".join(ln for ln in path.read_bytes().splitlines() if not ln.startswith(b"-----"))
    raw = base64.b64decode(body)
    assert raw.startswith(b"openssh-key-v1\0")
    pos, fields = len(b"openssh-key-v1\0"), []
    for _ in range(3):
        n = int.from_bytes(raw[pos : pos + 4], "big")
        fields.append(raw[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return fields[0], fields[1], fields[2]


def armored(raw: bytes) -> bytes:
    """`raw` in the OpenSSH private key armour (70 base64 characters a line)."""
    text = base64.b64encode(raw)
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return b"\n".join([b"-----BEGIN OPENSSH PRIVATE KEY-----", *lines, b"-----END OPENSSH PRIVATE KEY-----", b""])


def names(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_fingerprints_are_those_ssh_keygen_prints(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    created = keys.ensure_key(request(path))
    assert created.fingerprint == keygen_fingerprint(created.public_path) == keygen_fingerprint(path)
    keys._OPENED.clear()
    reused = keys.ensure_key(request(path))
    assert reused.fingerprint == created.fingerprint
    blob = keys.public_blob_of(path.read_bytes())
    assert blob is not None and keys.fingerprint_of_blob(blob) == created.fingerprint
    line = created.public_line.split()
    with pytest.raises(ValueError):  # a damaged key field is refused, not read past its bad characters
        keys.fingerprint_of_line(f"{line[0]} {line[1][:8]}!{line[1][8:]}")


def test_the_private_key_is_aes256_with_bcrypt_and_the_rounds_asked(home: Path) -> None:
    protected = keys.ensure_key(request(home / ".ssh" / "id_ed25519", rounds=3))
    cipher, kdf, options = header(protected.path)
    assert (cipher, kdf) == (b"aes256-ctr", b"bcrypt")
    assert len(options) == 4 + 16 + 4 and int.from_bytes(options[-4:], "big") == 3  # 16-byte salt, 3 rounds
    assert keygen_public(protected.path, PASSB).split()[:2] == protected.public_line.split()[:2]
    plain = keys.ensure_key(request(home / ".ssh" / "id_plain", passphrase=None))
    assert header(plain.path) == (b"none", b"none", b"") and not plain.encrypted
    assert keygen_public(plain.path, b"").split()[:2] == plain.public_line.split()[:2]


def test_comments_with_spaces_are_kept_and_no_comment_leaves_no_trailing_space(home: Path) -> None:
    named = keys.ensure_key(request(home / ".ssh" / "id_named", comment="Jane Doe <jane@example.com>"))
    assert named.public_line.endswith(" Jane Doe <jane@example.com>\n")
    bare = keys.ensure_key(request(home / ".ssh" / "id_bare", comment=""))
    assert bare.public_path.read_text() == bare.public_line == " ".join(bare.public_line.split()[:2]) + "\n"


def test_a_key_path_with_a_control_character_is_refused(home: Path) -> None:
    with pytest.raises(UsageError, match=r"^the key file \(--key-file\): .* contains a control character"):
        keys.ensure_key(request(home / ".ssh" / "id\nevil"))
    assert not (home / ".ssh").exists()


def test_a_new_pair_says_it_made_the_ssh_folder_and_has_no_backup(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    r = keys.ensure_key(request(path))
    assert (r.path, r.public_path, r.backup) == (path, Path(str(path) + ".pub"), None)
    assert len(r.notes) == 1 and str(home / ".ssh") in r.notes[0] and "0700" in r.notes[0]
    second = keys.ensure_key(request(home / ".ssh" / "id_other"))  # the folder is there: nothing to say
    assert second.notes == () and second.backup is None


def test_a_protected_key_is_reused_as_protected_in_this_process_and_the_next(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    created = keys.ensure_key(request(path))
    same = keys.ensure_key(request(path))  # opened from what this process made
    assert same.encrypted is True and same.notes == ()
    keys._OPENED.clear()  # as a new process: opened from the file with its passphrase
    r = keys.ensure_key(request(path))
    assert (r.status, r.encrypted, r.key_type, r.bits, r.notes) == ("reused", True, "ed25519", None, ())
    assert (r.path, r.public_path, r.fingerprint) == (path, created.public_path, created.fingerprint)
    keys._OPENED.clear()
    with pytest.raises(ConflictError, match=re.escape(str(path))):  # the error names the key file
        keys.ensure_key(request(path, passphrase=b"not the passphrase"))


def test_an_unprotected_key_given_a_passphrase_is_reused_and_said_to_have_none(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    created = keys.ensure_key(request(path, passphrase=None))
    data = path.read_bytes()
    keys._OPENED.clear()
    r = keys.ensure_key(request(path))  # a passphrase for a key that has none: reused as it is
    assert (r.status, r.encrypted, r.fingerprint) == ("reused", False, created.fingerprint)
    assert any("has no passphrase" in n for n in r.notes)
    assert path.read_bytes() == data and not keys.is_encrypted(path)


def test_a_matching_pub_is_left_alone(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    r = keys.ensure_key(request(path))
    before = os.stat(r.public_path)
    again = keys.ensure_key(request(path))
    after = os.stat(r.public_path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert again.notes == () and sorted(p.name for p in path.parent.iterdir()) == ["id_ed25519", "id_ed25519.pub"]


def test_a_pub_without_a_final_newline_or_with_a_latin1_comment_is_reused_as_it_is(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    r = keys.ensure_key(request(path))
    fields = r.public_line.split()[:2]
    odd = f"{fields[0]} {fields[1]} Jos".encode() + b"\xe9"  # no newline, a comment that is not UTF-8
    r.public_path.write_bytes(odd)
    keys._OPENED.clear()
    again = keys.ensure_key(request(path))
    assert again.status == "reused" and again.notes == ()
    assert again.public_line == f"{fields[0]} {fields[1]} Jos\ufffd\n"
    assert r.public_path.read_bytes() == odd  # not rewritten


def test_a_missing_pub_is_written_with_the_comment_asked_and_mode_0644(home: Path) -> None:
    path = home / ".ssh" / "id_ed25519"
    r = keys.ensure_key(request(path))
    r.public_path.unlink()
    old = os.umask(0o077)
    try:
        again = keys.ensure_key(request(path, comment="new@example.com"))
    finally:
        os.umask(old)
    fields = r.public_line.split()[:2]
    assert r.public_path.read_text() == again.public_line == f"{fields[0]} {fields[1]} new@example.com\n"
    assert stat.S_IMODE(os.stat(r.public_path).st_mode) == 0o644


OTHER_TYPE = "ecdsa-sha2-nistp256"


@pytest.mark.parametrize(("old_type", "old_comment", "asked", "kept"), [
    ("same", b" Jane Doe laptop", "me@example.com", "Jane Doe laptop"),  # the user's comment, all its words
    ("same", b"", "me@example.com", "me@example.com"),  # none there: the one asked
    ("same", b" Jos\xe9", "me@example.com", "Jos\ufffd"),  # not UTF-8: kept as well as it reads
    ("other", b" ecdsa laptop", "me@example.com", "me@example.com"),  # another key's comment is not ours
    ("same", b"", "", None),  # no comment at all: no trailing space either
])
def test_a_mismatched_pub_is_repaired_keeping_its_comment_only_when_it_was_of_this_type(
        home: Path, old_type: str, old_comment: bytes, asked: str, kept: str | None) -> None:
    from helpers.trust import fresh_key

    path = home / ".ssh" / "id_ed25519"
    r = keys.ensure_key(request(path, comment=asked))
    stranger = fresh_key("ed25519" if old_type == "same" else "ecdsa").split()
    old = f"{stranger[0]} {stranger[1]}".encode() + old_comment + b"\n"
    r.public_path.write_bytes(old)
    keys._OPENED.clear()
    again = keys.ensure_key(request(path, comment=asked))
    fields = r.public_line.split()[:2]
    expected = " ".join([*fields, *([kept] if kept else [])]) + "\n"
    assert r.public_path.read_text() == again.public_line == expected
    strays = [p for p in path.parent.iterdir() if ".mismatched-" in p.name]
    assert len(strays) == 1 and strays[0].read_bytes() == old
    assert re.fullmatch(r"id_ed25519\.pub\.mismatched-\d{8}-\d{6}", strays[0].name)
    assert any(str(strays[0]) in n for n in again.notes)


def test_keys_made_by_ssh_keygen_in_other_types_and_pem_are_reused(home: Path) -> None:
    ssh = home / ".ssh"
    cases = [("id_ecdsa", ("-t", "ecdsa", "-b", "256"), "", None),
             ("id_pem", ("-t", "ecdsa", "-b", "256", "-m", "PEM"), "", None),
             ("id_pem_locked", ("-t", "ecdsa", "-b", "256", "-m", "PEM"), PASS, PASSB)]
    for name, args, secret, given in cases:
        path = ssh / name
        keygen_make(path, *args, passphrase=secret)
        pub_before = Path(str(path) + ".pub").read_bytes()
        assert keys.is_encrypted(path) is bool(secret), name
        r = keys.ensure_key(request(path, passphrase=given))
        assert (r.status, r.key_type, r.bits, r.encrypted) == ("reused", "ecdsa", 256, bool(secret)), name
        assert r.fingerprint == keygen_fingerprint(path), name
        assert Path(str(path) + ".pub").read_bytes() == pub_before and r.public_line.endswith(" made@elsewhere\n")
    keys._OPENED.clear()
    with pytest.raises(ConflictError):
        keys.ensure_key(request(ssh / "id_pem_locked", passphrase=b"not the passphrase"))
    with pytest.raises(ConflictError):
        keys.ensure_key(request(ssh / "id_pem_locked", passphrase=None))
    assert not any(".mismatched-" in p.name for p in ssh.iterdir())


def test_other_key_kinds_are_described_as_other() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed448

    assert keys.describe(ed448.Ed448PrivateKey.generate()) == ("other", None)


def test_damaged_private_key_files_are_neither_encrypted_nor_a_public_key(home: Path, tmp_path: Path) -> None:
    r = keys.ensure_key(request(home / ".ssh" / "id_ed25519"))
    data = r.path.read_bytes()
    lines = data.splitlines()
    body = b"".join(lines[1:-1])
    raw = base64.b64decode(body)
    blob = keys.public_blob_of(data)
    assert blob is not None
    end = raw.index(blob) + len(blob)
    damaged = {
        "bad character": b"\n".join([lines[0], lines[1][:10] + b"*" + lines[1][10:], *lines[2:]]) + b"\n",
        "truncated blob": armored(raw[: end - 8]),
        "empty blob type": armored(raw[: raw.index(blob) - 4] + b"\0\0\0\4\0\0\0\0"),
        "not an openssh key": armored(b"openssh-key-v2\0" + raw[15:]),
        "bad base64": lines[0] + b"\nAAAAA\n" + lines[-1] + b"\n",
    }
    for what, text in damaged.items():
        f = tmp_path / what.replace(" ", "_")
        f.write_bytes(text)
        assert keys.public_blob_of(text) is None, what
        # is_encrypted reads the cipher name only: a key damaged further on still says aes256-ctr
        assert keys.is_encrypted(f) is (what in ("bad character", "truncated blob", "empty blob type")), what
    assert keys.is_encrypted(tmp_path / "absent") is False


def test_a_pregenerated_key_is_used_only_when_it_is_of_the_type_and_size_asked(home: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    ed = ed25519.Ed25519PrivateKey.generate()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - small: fast to make, a test key
    ssh = home / ".ssh"
    used = keys.ensure_key(request(ssh / "a", pregenerated=ed))
    assert used.public_line.split()[:2] == keys.public_line(ed, "").split()
    used_rsa = keys.ensure_key(request(ssh / "b", key_type="rsa", bits=1024, pregenerated=small, passphrase=None))
    assert used_rsa.public_line.split()[:2] == keys.public_line(small, "").split()
    assert keygen_fingerprint(ssh / "b").startswith("SHA256:") and (used_rsa.key_type, used_rsa.bits) == ("rsa", 1024)
    for name, kind, bits, pre in (("c", "rsa", 1024, ed), ("d", "ed25519", 0, small), ("e", "rsa", 1088, small)):
        r = keys.ensure_key(request(ssh / name, key_type=kind, bits=bits, pregenerated=pre, passphrase=None))
        assert r.public_line.split()[:2] != keys.public_line(pre, "").split(), name
        assert (r.key_type, r.bits) == (kind, bits if kind == "rsa" else None), name
        out = subprocess.run(["ssh-keygen", "-l", "-f", str(r.public_path)], capture_output=True, text=True,
                             check=True).stdout
        assert out.split()[0] == str(bits if kind == "rsa" else 256), name


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> str:
    """time.strftime as always, at one fixed instant: every backup of the test is in the same second."""
    real, instant = time.strftime, time.localtime()
    monkeypatch.setattr(time, "strftime", lambda fmt, t=None: real(fmt, instant if t is None else t))
    return real("%Y%m%d-%H%M%S", instant)


def test_force_backups_are_timestamped_and_never_take_a_name_in_use(home: Path, frozen_clock: str) -> None:
    path = home / ".ssh" / "id_ed25519"
    first = keys.ensure_key(request(path))
    stray = path.parent / f"id_ed25519.bak-{frozen_clock}.pub"  # a .pub alone holds the first name
    stray.write_text("keep me\n")
    second = keys.ensure_key(request(path, force=True))
    assert second.backup == path.parent / f"id_ed25519.bak-{frozen_clock}-2"
    assert stray.read_text() == "keep me\n"
    assert Path(str(second.backup) + ".pub").read_text() == first.public_line
    assert stat.S_IMODE(os.stat(second.public_path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    third = keys.ensure_key(request(path, force=True))
    assert third.backup == path.parent / f"id_ed25519.bak-{frozen_clock}-3"
    assert third.backup.read_bytes() != second.backup.read_bytes()
    assert re.fullmatch(r"\d{8}-\d{6}", frozen_clock)


def test_force_without_hard_links_copies_the_backup_keeping_it_0600(home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / ".ssh" / "id_ed25519"
    old = keys.ensure_key(request(path))
    data = path.read_bytes()

    def no_links(*_: object, **__: object) -> None:
        raise OSError(errno.EPERM, "no hard links on this file system")

    monkeypatch.setattr(os, "link", no_links)
    new = keys.ensure_key(request(path, force=True))
    assert new.backup is not None and new.backup.read_bytes() == data
    assert stat.S_IMODE(os.stat(new.backup).st_mode) == 0o600
    assert Path(str(new.backup) + ".pub").read_text() == old.public_line
    assert keygen_public(path, PASSB).split()[:2] == new.public_line.split()[:2]


@pytest.mark.parametrize(("lone_pub", "fail_at"), [(False, 1), (False, 2), (True, 1), (True, 2)])
def test_a_force_failing_at_a_rename_puts_the_old_pair_back(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                            lone_pub: bool, fail_at: int) -> None:
    path = home / ".ssh" / "id_ed25519"
    keys.ensure_key(request(path))
    if lone_pub:
        path.unlink()
    before = names(path.parent)
    real, calls = fsutil.commit_temp, []

    def commit(tmp: Path, target: Path) -> None:
        calls.append(target)
        if len(calls) == fail_at:
            raise fsutil.WriteError(f"cannot write {target}: injected")
        real(tmp, target)

    monkeypatch.setattr(fsutil, "commit_temp", commit)
    with pytest.raises(fsutil.WriteError, match="injected"):
        keys.ensure_key(request(path, force=True))
    assert names(path.parent) == before  # the old pair (or lone .pub) as it was: no backup, no temp file


def test_a_force_failing_to_write_the_new_pub_changes_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / ".ssh" / "id_ed25519"
    keys.ensure_key(request(path))
    before = names(path.parent)
    real = fsutil.write_temp

    def write_temp(target: Path, data: bytes, **kw: object) -> Path:
        if target.name.endswith(".pub"):
            raise fsutil.WriteError(f"cannot write {target}: No space left on device")
        return real(target, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(fsutil, "write_temp", write_temp)
    with pytest.raises(fsutil.WriteError, match="No space left"):
        keys.ensure_key(request(path, force=True))
    assert names(path.parent) == before


def test_a_new_pub_that_cannot_be_written_leaves_no_private_key_alone(home: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / ".ssh" / "id_ed25519"
    real = fsutil.write_new

    def write_new(target: Path, data: bytes, **kw: object) -> None:
        if target.name.endswith(".pub"):
            raise fsutil.WriteError(f"cannot write {target}: No space left on device")
        real(target, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(fsutil, "write_new", write_new)
    with pytest.raises(fsutil.WriteError, match="No space left"):
        keys.ensure_key(request(path))
    assert list(path.parent.iterdir()) == []  # the next run makes a new pair, not reuses half of one


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to write files for another account")
def test_as_root_every_file_written_belongs_to_the_account_set_up(home: Path) -> None:
    from helpers.trust import fresh_key

    owner = (65534, 65534)
    path = home / ".ssh" / "id_ed25519"

    def owned(p: Path) -> tuple[int, int]:
        st = os.lstat(p)
        return st.st_uid, st.st_gid

    r = keys.ensure_key(request(path, owner=owner))
    assert owned(path.parent) == owned(path) == owned(r.public_path) == owner
    r.public_path.unlink()
    keys.ensure_key(request(path, owner=owner))
    assert owned(r.public_path) == owner
    r.public_path.write_text(fresh_key() + " stray\n")  # root's now, and not this key's
    os.chown(r.public_path, 0, 0)
    keys.ensure_key(request(path, owner=owner))
    assert owned(r.public_path) == owner
    forced = keys.ensure_key(request(path, owner=owner, force=True))
    assert owned(path) == owned(r.public_path) == owner and forced.backup is not None


def test_an_unprotected_pem_key_given_a_passphrase_is_reused_as_unprotected(home: Path) -> None:
    """As for the OpenSSH format: a passphrase given for a key that has none is not a wrong passphrase."""
    path = home / ".ssh" / "id_pem"
    keygen_make(path, "-t", "ecdsa", "-b", "256", "-m", "PEM", passphrase="")
    r = keys.ensure_key(request(path, passphrase=PASSB))
    assert r.status == "reused" and not r.encrypted
    assert any("has no passphrase" in n for n in r.notes)


def test_two_repairs_in_one_second_keep_both_replaced_pubs(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.trust import fresh_key

    path = home / ".ssh" / "id_ed25519"
    r = keys.ensure_key(request(path))
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20261129-120000")
    olds = []
    for _ in range(2):
        stranger = fresh_key("ed25519").split()
        olds.append(f"{stranger[0]} {stranger[1]} stray\n".encode())
        r.public_path.write_bytes(olds[-1])
        keys._OPENED.clear()
        keys.ensure_key(request(path))
    strays = {p.name: p.read_bytes() for p in path.parent.iterdir() if ".mismatched-" in p.name}
    assert strays == {"id_ed25519.pub.mismatched-20261129-120000": olds[0],  # nothing the user had is lost,
                      "id_ed25519.pub.mismatched-20261129-120000-2": olds[1]}  # named as --force's backups are
