"""setup's concurrent clones: bounded, one agent, one line per repository, failures kept apart,
the first failing repository (in the list's order) decides the exit code, nothing half-cloned."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.gitrepo import make_bare
from helpers.procwatch import ProcWatcher
from helpers.run import onboard
from helpers.sshd import Sshd, free_port

from onboarding import clonemany
from onboarding.console import Board, Console

PW = "concurrent clones passphrase"


def repos(sshd: Sshd, count: int) -> list[str]:
    stamp = time.monotonic_ns()
    names = [f"r{stamp}x{i}.git" for i in range(count)]
    for i, name in enumerate(names):
        make_bare(sshd.root / "repos" / name, {"README.md": f"repository {i}\n"})
    return names


def key_with_passphrase(home: Path, tmp_path: Path) -> Path:
    pw = tmp_path / "pw"
    pw.write_text(PW + "\n")
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pw))
    assert r.returncode == 0, r.output
    return home / ".ssh" / "id_ed25519"


def pins(sshd: Sshd, tmp_path: Path, dead_port: int | None = None) -> Path:
    f = tmp_path / "pins.toml"
    text = sshd.providers_toml()
    if dead_port is not None:  # the same keys on a port where nothing listens: a network failure at clone
        text += "\n" + sshd.providers_toml("dead").replace(f"]:{sshd.port}\"", f"]:{dead_port}\"")
    f.write_text(text)
    return f


def setup_args(tmp_path: Path, pins_file: Path, urls: list[str], *extra: str) -> list[str]:
    args = ["setup", "--non-interactive", "--key-type", "ed25519", "--passphrase-file", str(tmp_path / "pw"),
            "--providers-file", str(pins_file), "--local-root", str(tmp_path / "src"), *extra]
    for url in urls:
        args += ["--repo", url]
    return args


@pytest.mark.sshd
def test_one_missing_repository_among_five_the_others_clone_with_one_agent(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    key = key_with_passphrase(home, tmp_path)
    sshd.authorize(Path(f"{key}.pub"))
    names = repos(sshd, 4)
    urls = [sshd.url(n) for n in names]
    urls.insert(2, sshd.url("missing-repository.git"))
    scratch = tmp_path / "tmp"  # the run's TMPDIR: its agent is told apart from other runs on the machine
    scratch.mkdir()
    with ProcWatcher(PW, agents_under=scratch) as watcher:  # no terminal: stdin is /dev/null, stderr a pipe
        r = onboard(*setup_args(tmp_path, pins(sshd, tmp_path), urls, "--providers", "local", "--json"),
                    env={"TMPDIR": str(scratch)})
    assert r.returncode == 6, r.output
    for name in names:
        assert (tmp_path / "src" / name[:-4] / "README.md").exists(), name
    assert not (tmp_path / "src" / "missing-repository").exists()
    # the missing one is reported with its own reason, the run's error names it
    assert "missing-repository.git: git clone failed" in r.stderr
    assert "does not appear to be a git repository" in r.stderr
    envelope = json.loads(r.stdout)
    assert envelope["error"]["exit_code"] == 6
    assert sorted(c["status"] for c in envelope["result"]["clones"]) == ["cloned"] * 4
    # one private agent for all five, gone afterwards; the passphrase in no argv or environment
    assert len(watcher.agent_pids) == 1 and watcher.hits == []
    assert not list(scratch.glob("onboard-agent-*"))
    assert PW not in r.output
    # not a terminal: one start and one end line per repository, no carriage returns
    assert "\r" not in r.stderr
    for name in names:
        label = name[:-4]
        assert r.stderr.count(f"{label}: cloning into ") == 1
        assert r.stderr.count(f"{label}: cloned into ") == 1
    assert r.stderr.count("missing-repository: failed: exit 6") == 1


@pytest.mark.sshd
def test_the_first_failing_repository_in_the_list_decides_the_exit_code(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    key = key_with_passphrase(home, tmp_path)
    sshd.authorize(Path(f"{key}.pub"))
    [good] = repos(sshd, 1)
    dead = free_port()
    pins_file = pins(sshd, tmp_path, dead_port=dead)
    unreachable = f"ssh://{sshd.user}@127.0.0.1:{dead}{sshd.root / 'repos' / good}".replace(good, "other.git")
    missing = sshd.url("gone.git")
    # --offline: the pins are written without probing, so the dead port fails at clone, as exit 4
    common = ("--providers", "local,dead", "--offline")
    r = onboard(*setup_args(tmp_path, pins_file, [sshd.url(good), unreachable, missing],
                            *common))
    assert r.returncode == 4, r.output
    assert "Connection refused" in r.stderr and "gone.git: git clone failed" in r.stderr
    r = onboard(*setup_args(tmp_path, pins_file, [sshd.url(good), missing, unreachable], *common))
    assert r.returncode == 6, r.output
    assert "kept as it is" in r.stderr  # the good one was cloned by the first run, and only kept now


@pytest.mark.sshd
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_while_cloning_removes_every_half_clone(sshd: Sshd, home: Path, tmp_path: Path,
                                                         sig: signal.Signals) -> None:
    key = key_with_passphrase(home, tmp_path)
    # the server accepts the key, then says nothing: every clone hangs after creating its folder
    sshd.authorized_keys.write_text(f'command="exec sleep 30" {Path(f"{key}.pub").read_text()}')
    names = repos(sshd, 3)
    args = setup_args(tmp_path, pins(sshd, tmp_path), [sshd.url(n) for n in names], "--providers", "local")
    scratch = tmp_path / "tmp"  # the run's TMPDIR: its agent is told apart from other runs on the machine
    scratch.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "onboarding", *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(scratch)})
    folders = [tmp_path / "src" / n[:-4] for n in names]
    deadline = time.monotonic() + 60
    while not all((f / ".git").exists() for f in folders) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all((f / ".git").exists() for f in folders), "the clones never started"
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err.decode()
    assert [f for f in folders if f.exists()] == []
    assert not list(scratch.glob("onboard-agent-*"))
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(scratch) not in ps and not any(n in ps for n in names)  # no agent, no git left behind


# -- in-process: git's progress and the board ---------------------------------------------------
def _parse(data: bytes) -> tuple[list[tuple[str, int]], str]:
    seen: list[tuple[str, int]] = []
    read, write = os.pipe()

    def feed() -> None:  # a pipe holds 64 KiB: write while the parser reads, as git does
        with os.fdopen(write, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read, "rb") as stream:
        message = clonemany.read_progress(stream, lambda phase, pct: seen.append((phase, pct)))
    writer.join()
    return seen, message


def test_progress_is_parsed_per_phase_and_the_message_keeps_only_git_and_ssh_words() -> None:
    seen, message = _parse(
        b"Cloning into 'app'...\nremote: Enumerating objects: 5, done.\n"
        b"remote: Counting objects:  20% (1/5)\rremote: Counting objects: 100% (5/5), done.\n"
        b"Receiving objects:  40% (2/5)\rReceiving objects:  40% (2/5), 1 KiB\r"
        b"Receiving objects: 100% (5/5), done.\nResolving deltas: 100% (1/1), done.\n"
        b"warning: something\nfatal: the end")
    assert seen == [("Counting objects", 20), ("Counting objects", 100), ("Receiving objects", 40),
                    ("Receiving objects", 100), ("Resolving deltas", 100)]
    assert message == "warning: something\nfatal: the end"


def test_a_flooding_server_is_held_to_the_last_lines() -> None:
    _, message = _parse(b"".join(b"remote: line %d\n" % i for i in range(10000)) + b"x" * 10**6)
    assert len(message) < 50_000 and "line 9999" in message and "line 10 " not in message


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_board_on_a_terminal_redraws_one_line_per_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    err = _Tty()
    board = Board(Console(stdout=io.StringIO(), stderr=err, color=False), ["app", "library"])
    board.update(0, "receiving objects 40%")
    board.event(1, "exit 6: fatal: nope", failed=True)
    text = err.getvalue()
    assert text.startswith("app      waiting\nlibrary  waiting\n")
    assert "\x1b[2A\r\x1b[2Kapp      receiving objects 40%\x1b[2B\r" in text
    assert "\x1b[1A\r\x1b[2Klibrary  exit 6: fatal: nope\x1b[1B\r" in text


def test_board_elsewhere_prints_start_and_end_only() -> None:
    err = io.StringIO()
    board = Board(Console(stdout=io.StringIO(), stderr=err, color=False), ["app"])
    board.event(0, "cloning into /x/app")
    board.update(0, "receiving objects 40%")
    board.event(0, "exit 4: ssh: connect refused", failed=True)
    assert err.getvalue() == "app: cloning into /x/app\napp: failed: exit 4: ssh: connect refused\n"
