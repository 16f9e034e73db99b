"""onboard keygen: real keys checked by the real ssh-keygen; modes, reuse, backup, refusals."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.run import as_user, onboard

PW = "correct horse battery"


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    f = tmp_path / "pw"
    f.write_text(PW + "\n")
    return f


def ssh_keygen_opens(key: Path, passphrase: str) -> bool:
    proc = subprocess.run(["ssh-keygen", "-y", "-P", passphrase, "-f", str(key)],
                          capture_output=True, stdin=subprocess.DEVNULL)
    return proc.returncode == 0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def openssh_header(key: Path) -> tuple[str, str, int]:
    """(cipher, kdf, rounds) from the openssh-key-v1 header."""
    body = "".join(key.read_text().splitlines()[1:-1])
    raw = base64.b64decode(body)
    assert raw.startswith(b"openssh-key-v1\0")
    pos = len(b"openssh-key-v1\0")

    def string() -> bytes:
        nonlocal pos
        n = int.from_bytes(raw[pos:pos + 4], "big")
        pos += 4
        pos += n
        return raw[pos - n:pos]

    cipher, kdf, options = string(), string(), string()
    rounds = int.from_bytes(options[-4:], "big") if options else 0
    return cipher.decode(), kdf.decode(), rounds


def test_default_is_rsa_4096_that_ssh_keygen_opens(home: Path, pwfile: Path) -> None:
    r = onboard("keygen", "-y", "--passphrase-file", str(pwfile), "--email", "me@example.com")
    assert r.returncode == 0, r.output
    key, pub = home / ".ssh/id_rsa", home / ".ssh/id_rsa.pub"
    assert ssh_keygen_opens(key, PW)
    assert not ssh_keygen_opens(key, "wrong passphrase")
    info = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True).stdout
    assert info.startswith("4096 SHA256:") and "me@example.com" in info and "(RSA)" in info
    assert openssh_header(key) == ("aes256-ctr", "bcrypt", 24)
    assert mode(home / ".ssh") == 0o700 and mode(key) == 0o600 and mode(pub) == 0o644
    text = pub.read_text()
    assert text.endswith("\n") and text.count("\n") == 1
    # the public key and where to paste it are on stdout
    assert text.strip() in r.stdout and "https://github.com/settings/ssh/new" in r.stdout
    fp = info.split()[1]
    assert fp in r.stdout


def test_ed25519_with_requested_rounds(home: Path, pwfile: Path) -> None:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "30",
                "--passphrase-file", str(pwfile))
    assert r.returncode == 0, r.output
    key = home / ".ssh/id_ed25519"
    assert openssh_header(key) == ("aes256-ctr", "bcrypt", 30)
    assert ssh_keygen_opens(key, PW)


def test_mode_0600_from_first_byte_even_under_umask_000(home: Path, pwfile: Path) -> None:
    env = {**os.environ}
    proc = subprocess.run(
        [sys.executable, "-c",
         "import os,sys; os.umask(0); from onboarding.cli import main; sys.exit(main(sys.argv[1:]))",
         "keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile)],
        env=env, capture_output=True, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert mode(home / ".ssh") == 0o700
    assert mode(home / ".ssh/id_ed25519") == 0o600
    assert mode(home / ".ssh/id_ed25519.pub") == 0o644


def test_rerun_reuses_key_byte_for_byte(home: Path, pwfile: Path) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile)).returncode == 0
    key = home / ".ssh/id_ed25519"
    before = (key.read_bytes(), Path(str(key) + ".pub").read_bytes())
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile), "--json")
    assert r.returncode == 0, r.output
    assert '"status": "reused"' in r.stdout
    assert (key.read_bytes(), Path(str(key) + ".pub").read_bytes()) == before


def test_wrong_passphrase_for_existing_key_exits_5_and_changes_nothing(
    home: Path, pwfile: Path, tmp_path: Path
) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile)).returncode == 0
    key = home / ".ssh/id_ed25519"
    before = key.read_bytes()
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(wrong))
    assert r.returncode == 5
    assert "does not open with this passphrase" in r.stderr and "--force" in r.stderr
    assert key.read_bytes() == before
    assert sorted(p.name for p in (home / ".ssh").iterdir()) == ["id_ed25519", "id_ed25519.pub"]


def test_force_moves_old_pair_to_timestamped_backup(home: Path, pwfile: Path) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile)).returncode == 0
    key = home / ".ssh/id_ed25519"
    old = key.read_bytes()
    old_pub = Path(str(key) + ".pub").read_bytes()
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile), "--force")
    assert r.returncode == 0, r.output
    backups = sorted((home / ".ssh").glob("id_ed25519.bak-*"))
    assert [b.name.endswith(".pub") for b in backups] == [False, True]
    assert backups[0].read_bytes() == old and backups[1].read_bytes() == old_pub
    assert key.read_bytes() != old and ssh_keygen_opens(key, PW)
    assert mode(key) == 0o600


def test_symlink_at_key_path_is_refused(home: Path, pwfile: Path, tmp_path: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (ssh / "id_ed25519").symlink_to(victim)
    for extra in ([], ["--force"]):
        r = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile), *extra)
        assert r.returncode == 5, r.output
        assert "symbolic link" in r.stderr
    assert victim.read_text() == "precious\n"
    assert (ssh / "id_ed25519").is_symlink()


def test_pub_without_private_key_is_a_conflict(home: Path, pwfile: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "id_ed25519.pub").write_text("ssh-ed25519 AAAA stray\n")
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile))
    assert r.returncode == 5 and "without its private key" in r.stderr
    assert not (ssh / "id_ed25519").exists()


@pytest.mark.parametrize("how", ["file", "stdin", "env-flag", "env-default", "json"])
def test_passphrase_never_in_output(home: Path, pwfile: Path, how: str) -> None:
    args = ["keygen", "-y", "--key-type", "ed25519", "--verbose"]
    stdin, env = None, {}
    if how == "file":
        args += ["--passphrase-file", str(pwfile)]
    elif how == "stdin":
        args += ["--passphrase-stdin"]
        stdin = PW + "\n"
    elif how == "env-flag":
        args += ["--passphrase-env", "MY_SECRET"]
        env = {"MY_SECRET": PW}
    elif how == "env-default":
        env = {"ONBOARD_PASSPHRASE": PW}
    else:
        args += ["--passphrase-file", str(pwfile), "--json"]
    r = onboard(*args, input=stdin, env=env)
    assert r.returncode == 0, r.output
    assert PW not in r.output
    assert ssh_keygen_opens(home / ".ssh/id_ed25519", PW)
    # a second run (reuse path, which opens the key) does not leak it either
    r = onboard(*args, input=stdin, env=env)
    assert r.returncode == 0 and PW not in r.output


def test_passphrase_not_in_errors(home: Path, pwfile: Path, tmp_path: Path) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pwfile)).returncode == 0
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--verbose", env={"ONBOARD_PASSPHRASE": "the-wrong-one"})
    assert r.returncode == 5 and "the-wrong-one" not in r.output


def test_no_terminal_refuses_fast_naming_the_flags(home: Path) -> None:
    start = time.monotonic()
    r = onboard("keygen", "--key-type", "ed25519")
    assert time.monotonic() - start < 5  # "within a second" of work; the margin is interpreter start-up
    assert r.returncode == 2
    assert "no terminal" in r.stderr and "--passphrase-file" in r.stderr and "--no-passphrase" in r.stderr
    assert not (home / ".ssh").exists()


def test_non_interactive_without_passphrase_exits_2_and_writes_nothing(home: Path) -> None:
    r = onboard("keygen", "--non-interactive", "--key-type", "ed25519")
    assert r.returncode == 2 and "--non-interactive" in r.stderr and "--passphrase-stdin" in r.stderr
    assert not (home / ".ssh").exists()


def test_no_passphrase_only_when_asked(home: Path) -> None:
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    assert "no passphrase" in r.stderr
    assert ssh_keygen_opens(home / ".ssh/id_ed25519", "")
    assert openssh_header(home / ".ssh/id_ed25519")[0] == "none"


@pytest.mark.parametrize(("args", "message"), [
    (["--bits", "2048"], "3072"),
    (["--kdf-rounds", "0"], "--kdf-rounds"),
    (["--email", "a\nb"], "one line"),
    (["--passphrase-env", "NOPE_NOT_SET"], "NOPE_NOT_SET"),
    (["--passphrase-file", "/nonexistent/pw"], "cannot read"),
    (["--no-passphrase", "--passphrase-env", "X"], "contradicts"),
])
def test_bad_input_exits_2_and_writes_nothing(home: Path, args: list[str], message: str) -> None:
    r = onboard("keygen", "-y", *args, env={"X": "whatever12"})
    assert r.returncode == 2, r.output
    assert message in r.stderr
    assert not (home / ".ssh").exists()


def test_short_passphrase_refused(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "short"
    f.write_text("abc\n")
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(f))
    assert r.returncode == 2 and "too short" in r.stderr
    assert not (home / ".ssh" / "id_ed25519").exists()


def test_version_imports_nothing_heavy() -> None:
    code = ("import sys; from onboarding.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('paramiko', 'questionary', 'cryptography', 'prompt_toolkit') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_user_flag_as_root_gives_the_files_to_that_user(other_user, pwfile: Path) -> None:  # type: ignore[no-untyped-def]
    r = onboard("keygen", "-y", "--user", other_user.pw_name, "--key-type", "ed25519",
                "--passphrase-file", str(pwfile))
    assert r.returncode == 0, r.output
    ssh = Path(other_user.pw_dir) / ".ssh"
    for p in (ssh, ssh / "id_ed25519", ssh / "id_ed25519.pub"):
        st = p.stat()
        assert (st.st_uid, st.st_gid) == (other_user.pw_uid, other_user.pw_gid), p
    assert mode(ssh) == 0o700 and mode(ssh / "id_ed25519") == 0o600
    assert f"{other_user.pw_name}@" in (ssh / "id_ed25519.pub").read_text()


def test_user_flag_refused_for_non_root(other_user) -> None:  # type: ignore[no-untyped-def]
    r = as_user(other_user, "keygen", "-y", "--user", "root", "--no-passphrase")
    assert r.returncode == 2 and "only root" in r.stderr


def test_read_only_ssh_dir_gives_a_clear_error(other_user) -> None:  # type: ignore[no-untyped-def]
    ssh = Path(other_user.pw_dir) / ".ssh"
    ssh.mkdir(mode=0o500)
    os.chown(ssh, other_user.pw_uid, other_user.pw_gid)
    r = as_user(other_user, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 1, r.output
    assert "cannot write" in r.stderr and "Permission denied" in r.stderr
    assert list(ssh.iterdir()) == []


def test_unknown_user(home: Path) -> None:
    r = onboard("keygen", "-y", "--user", "no-such-user-xyz", "--no-passphrase")
    assert r.returncode == 2 and "no such local user" in r.stderr


def test_a_refused_question_under_json_names_json_not_non_interactive(home: Path) -> None:
    done = onboard("--json", "keygen", "--key-type", "ed25519")
    assert done.returncode == 2, done.output
    message = json.loads(done.stdout)["error"]["message"]
    assert "--json" in message and "--non-interactive" not in message
    assert not (home / ".ssh" / "id_ed25519").exists()


def test_a_refused_question_under_non_interactive_names_it(home: Path) -> None:
    done = onboard("-y", "keygen", "--key-type", "ed25519")
    assert done.returncode == 2, done.output
    assert "--non-interactive was given" in done.stderr
