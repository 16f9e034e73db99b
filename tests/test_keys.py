"""keys: a --force killed at any instant, or failing on a full disk, still leaves a matching pair."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from helpers.cli import run_env

from onboarding import keys
from tests.helpers.faults import killed_at

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
