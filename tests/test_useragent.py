"""The persistent agent's step module, with the real ssh-agent: start, liveness, the lock, the
socket's place; the shell block (shellrc); onboard's own ssh naming its agent; doctor's check.
Every agent started here has its socket under the test's tmp_path and is killed at teardown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.run import onboard

from onboarding import clone, doctor, shellrc, useragent
from onboarding.errors import ConflictError, UsageError
from onboarding.instance import Target


def _agents_under(path: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                if cmd.startswith(b"ssh-agent\0") and str(path).encode() in cmd:
                    found.append(int(entry))
    return found


@pytest.fixture(autouse=True)
def no_agent_left(tmp_path: Path) -> Iterator[None]:
    yield
    for pid in _agents_under(tmp_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_the_socket_is_the_agreed_path_and_a_too_long_one_is_exit_2(tmp_path: Path) -> None:
    assert useragent.socket_path(tmp_path) == tmp_path / ".ssh" / "agent" / "onboard.sock"
    deep = tmp_path / ("d" * 120)
    with pytest.raises(UsageError, match="bytes; the system allows at most 107"):
        useragent.socket_path(deep)
    deep.mkdir()
    done = onboard("unlock", "--json", env={"HOME": str(deep)})
    assert done.returncode == 2
    assert "the system allows at most 107" in json.loads(done.stdout)["error"]["message"]
    assert not (deep / ".ssh").exists()  # nothing half-made


def test_start_is_detached_answers_and_a_second_start_finds_it(home: Path) -> None:
    first = useragent.ensure_running(home)
    assert first.started and first.pid and useragent.answers(first.sock)
    assert os.getsid(first.pid) == first.pid  # a session of its own
    assert {os.readlink(f"/proc/{first.pid}/fd/{n}") for n in (0, 1, 2)} == {"/dev/null"}
    assert oct(os.stat(first.sock.parent).st_mode & 0o777) == "0o700"
    again = useragent.ensure_running(home)
    assert not again.started and _agents_under(home) == [first.pid]


def test_a_stale_socket_is_replaced_and_anything_else_is_refused(home: Path) -> None:
    sock = useragent.socket_path(home)
    useragent.ensure_folder(sock)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))  # a socket file nobody listens on: what a reboot leaves
    s.close()
    assert not useragent.answers(sock)
    assert useragent.ensure_running(home).started and useragent.answers(sock)
    os.kill(_agents_under(home)[0], signal.SIGKILL)
    os.unlink(sock)
    sock.write_text("not a socket")
    with pytest.raises(ConflictError, match="is not a socket"):
        useragent.ensure_running(home)
    assert sock.read_text() == "not a socket"


def test_an_agent_folder_that_is_a_link_is_refused(home: Path, tmp_path: Path) -> None:
    (home / ".ssh").mkdir(mode=0o700)
    (tmp_path / "elsewhere").mkdir()
    (home / ".ssh" / "agent").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConflictError, match="symbolic link"):
        useragent.ensure_running(home)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_four_starters_at_once_leave_one_agent(home: Path) -> None:
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parents[1])!r}); " \
           "from onboarding import useragent; from pathlib import Path; " \
           f"useragent.ensure_running(Path({str(home)!r}))"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert len(_agents_under(home)) == 1


def test_shell_block_is_idempotent_removable_and_four_shells_start_one_agent(home: Path) -> None:
    rc = home / ".bashrc"
    rc.write_text("# mine\nalias ll='ls -l'\n")
    sock = useragent.socket_path(home)
    assert shellrc.update(rc, sock) and not shellrc.update(rc, sock)
    assert rc.read_text().count(shellrc.BEGIN.decode()) == 1
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    shells = [subprocess.Popen(["bash", "-ic", 'echo "$SSH_AUTH_SOCK"'], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
              for _ in range(4)]
    outs = [p.communicate(timeout=60)[0].decode().strip() for p in shells]
    assert outs == [str(sock)] * 4
    assert len(_agents_under(home)) == 1 and useragent.answers(sock)
    # a live agent of the shell's own (a forwarded one) wins; a dead one does not
    forwarded = home.parent / "fwd.sock"
    subprocess.run(["ssh-agent", "-a", str(forwarded)], check=True, capture_output=True)
    for given, kept in ((forwarded, forwarded), (home.parent / "gone.sock", sock)):
        own = subprocess.run(["bash", "-ic", 'echo "$SSH_AUTH_SOCK"'], env={**env, "SSH_AUTH_SOCK": str(given)},
                             capture_output=True, stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)
        assert own.stdout.decode().strip() == str(kept)
    assert shellrc.update(rc, None) and rc.read_text() == "# mine\nalias ll='ls -l'\n"


def test_onboards_own_ssh_always_names_the_agent_it_means(tmp_path: Path) -> None:
    none = clone.ssh_argv(clone.SshOptions(tmp_path / "k", tmp_path / "kh", batch=True))
    assert none[-2:] == ["-o", "IdentityAgent=none"]
    ours = clone.ssh_argv(clone.SshOptions(tmp_path / "k", tmp_path / "kh", batch=True,
                                           agent_sock=tmp_path / "a%b c" / "s"))
    assert ours[-1] == f'IdentityAgent="{tmp_path}/a%%b c/s"'  # %-tokens and spaces as ssh reads them


def _target(home: Path) -> Target:
    return Target("me", os.getuid(), os.getgid(), home)


def test_doctor_agent_check_folder_modes_answer_and_key(home: Path) -> None:
    key = home / ".ssh" / "id_ed25519"
    assert doctor.check_agent(key, _target(home)) == []  # keep-unlocked never chosen: nothing to say
    sock = useragent.ensure_running(home).sock
    [check] = doctor.check_agent(key, _target(home))
    assert check.status == "warn" and check.fix == "onboard unlock"
    os.kill(_agents_under(home)[0], signal.SIGKILL)
    [check] = doctor.check_agent(key, _target(home))
    assert check.status == "fail" and "no agent answers" in check.detail and check.fix == "onboard unlock"
    sock.parent.chmod(0o755)
    [check] = doctor.check_agent(key, _target(home))
    assert check.status == "fail" and "0755" in check.detail


def test_unlock_and_lock_error_paths_are_named_with_their_exit_codes(home: Path, tmp_path: Path) -> None:
    missing = onboard("unlock", "--json", "--key-type", "ed25519")
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["error"]["message"] == f"no SSH key at {home / '.ssh' / 'id_ed25519'}"
    gone = onboard("lock", "--json", "--key-file", str(tmp_path / "nothing"))
    assert gone.returncode == 2 and "no SSH key at" in json.loads(gone.stdout)["error"]["message"]
    short = onboard("unlock", "--json", "--lifetime", "0")
    assert short.returncode == 2
    assert json.loads(short.stdout)["error"]["message"] == "--lifetime 0: must be at least 1 second " \
                                                           "(leave it out for no limit)"
    pw = tmp_path / "pw"
    pw.write_text("a long enough passphrase")
    pw.chmod(0o600)
    made = onboard("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--passphrase-file", str(pw))
    assert made.returncode == 0, made.stderr
    asked = onboard("unlock", "--key-type", "ed25519")  # no terminal, no passphrase given: refused at once
    assert asked.returncode == 2 and "passphrase" in asked.stderr and "--passphrase-file" in asked.stderr
    assert _agents_under(home) == [] and not (home / ".bashrc").exists()


def test_keep_unlocked_is_a_team_file_key(home: Path, tmp_path: Path) -> None:
    from onboarding import settings

    team = tmp_path / "team.toml"
    team.write_text("[setup]\nkeep_unlocked = true\n")
    s = settings.build({"config": team}, {})
    assert s.keep_unlocked is True and "team.toml" in s.origins["keep_unlocked"]


def test_setup_keep_unlocked_with_a_too_long_socket_path_stops_in_the_pre_check(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    done = onboard("setup", "-y", "--keep-unlocked", "--no-passphrase", "--key-type", "ed25519", "--providers",
                   "github", "--offline", "--json", env={"HOME": str(deep)})
    assert done.returncode == 2
    assert "the system allows at most 107" in json.loads(done.stdout)["error"]["message"]
    assert not (deep / ".ssh").exists()  # the pre-check ran before any write


def test_a_folder_others_can_read_is_tightened_and_a_truncated_answer_is_no_agent(home: Path, tmp_path: Path) -> None:
    (home / ".ssh" / "agent").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "agent").chmod(0o755)
    started = useragent.ensure_running(home)
    assert oct(os.stat(started.sock.parent).st_mode & 0o777) == "0o700"
    fake = tmp_path / "fake.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(fake))
    server.listen(1)

    def answer_badly() -> None:
        conn, _ = server.accept()
        conn.recv(100)
        conn.sendall(b"\0\0\0\x09\x0c\0\0\0\x02\0\0\0\x50")  # two keys announced, a blob cut short
        conn.close()

    import threading

    t = threading.Thread(target=answer_badly)
    t.start()
    assert useragent.identities(fake) is None
    t.join()
    server.close()


def test_rotates_login_proof_names_its_private_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from onboarding import proc, rotate

    seen: list[list[str]] = []

    def fake_run(argv: list[str], **kw: object) -> proc.Completed:
        seen.append(list(argv))
        return proc.Completed(1, b"", b'debug1: Authenticated to 127.0.0.1 ([127.0.0.1]:22) using "publickey".\n'
                              b"Hi there! You've successfully authenticated", False)

    monkeypatch.setattr(proc, "run", fake_run)
    site = rotate.Site("local", client=None, host="127.0.0.1", port=22, user="git")  # type: ignore[arg-type]
    rotate._log_in_each([site], tmp_path / "k", tmp_path / "kh", tmp_path / "private.sock", 5)
    [argv] = seen
    assert f"IdentityAgent={tmp_path / 'private.sock'}" in argv  # never the block's persistent agent
