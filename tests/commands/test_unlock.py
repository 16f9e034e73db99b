"""Day two, end to end: `setup --keep-unlocked`, `onboard unlock` / `lock`, as a real account
(ssh reads ~/.ssh/config from the passwd entry), against the real sshd, with the real
OpenSSH client and ssh-agent. Every agent a test starts is killed at teardown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.attacker import AS_AN_ACCOUNT, Account, create_account, delete_account, root_file, root_safe_dir
from helpers.dayagent import account_env, agents_of, as_account_argv, kill_agents, onboard_as, run_as
from helpers.gitrepo import make_bare
from helpers.procwatch import ProcWatcher
from helpers.sshd import Sshd, start_sshd

pytestmark = [*AS_AN_ACCOUNT, pytest.mark.sshd]

PW = "day-two passphrase 4711"
BEGIN_SSH = "# >>> onboard: managed block"
BEGIN_RC = "# >>> onboard: persistent ssh-agent"


@dataclass
class World:
    acct: Account
    other: Account
    sshd: Sshd
    url: str
    pins: Path
    pwfile: Path

    @property
    def sock(self) -> Path:
        return self.acct.home / ".ssh" / "agent" / "onboard.sock"

    def onboard(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        r = onboard_as(self.acct, *args, env=env)
        return subprocess.CompletedProcess(args, r.returncode, r.stdout, r.stderr)


@pytest.fixture
def world() -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="onboard-day2-"))
    base.chmod(0o755)
    acct, other = create_account(base), create_account(base)
    # sshd without PAM refuses a locked account ("!" in shadow, as useradd leaves it): '*' is no password
    for a in (acct, other):
        subprocess.run(["usermod", "-p", "*", a.name], check=True, capture_output=True)
    root = base / "sshd"
    root.mkdir(mode=0o755)
    server = start_sshd(root, extra=(f"AllowUsers {acct.name}",))
    repo = make_bare(root / "repos" / "app.git", {"README.md": "hello\n"})
    subprocess.run(["chown", "-R", f"{acct.uid}:{acct.gid}", str(repo)], check=True)
    pins = base / "pins.toml"
    pins.write_text(server.providers_toml())
    pins.chmod(0o644)
    pwfile = acct.home / "pw"
    pwfile.write_text(PW)
    os.chown(pwfile, acct.uid, acct.gid)
    pwfile.chmod(0o600)
    w = World(acct, other, server, f"ssh://{acct.name}@127.0.0.1:{server.port}{repo}", pins, pwfile)
    try:
        made = w.onboard("keygen", "-y", "--key-type", "ed25519", "--kdf-rounds", "2", "--passphrase-file",
                         str(pwfile), "--email", "day2@example.com")
        assert made.returncode == 0, made.stderr
        server.authorize(acct.home / ".ssh" / "id_ed25519.pub")
        yield w
    finally:
        kill_agents(acct.uid)
        kill_agents(other.uid)
        assert server.proc
        server.proc.terminate()
        server.proc.wait(timeout=10)
        delete_account(acct)
        delete_account(other)
        shutil.rmtree(base, ignore_errors=True)


def _setup(w: World, *extra: str) -> subprocess.CompletedProcess[str]:
    return w.onboard("setup", "-y", "--key-type", "ed25519", "--passphrase-file", str(w.pwfile),
                     "--providers-file", str(w.pins), "--providers", "local", "--repo", w.url,
                     "--git-name", "Day Two", "--email", "day2@example.com", *extra)


def _git(w: World, argv: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str, float]:
    start = time.monotonic()
    r = run_as(w.acct, argv, env=env, timeout=timeout)
    return r.returncode, r.output, time.monotonic() - start


def _bare_env(w: World) -> dict[str, str]:
    """As the Jupyter server: no terminal, no SSH_AUTH_SOCK, nothing a shell file set."""
    return {"HOME": str(w.acct.home), "PATH": "/usr/bin:/bin", "USER": w.acct.name}


def _held(w: World) -> list[str]:
    r = run_as(w.acct, ["ssh-add", "-l"], env={**_bare_env(w), "SSH_AUTH_SOCK": str(w.sock)})
    return [ln for ln in r.stdout.splitlines() if ln.strip()] if r.returncode == 0 else []


def test_keep_unlocked_reaches_every_kind_of_process_and_survives_what_it_should(world: World) -> None:
    w = world
    with ProcWatcher(PW) as watch:
        done = _setup(w, "--keep-unlocked")
    assert done.returncode == 0, done.stderr
    assert watch.samples > 3 and watch.hits == [], watch.hits  # never in an argv or an environment
    assert PW not in done.stdout + done.stderr
    assert "Who reaches the key now" in done.stderr and "root" in done.stderr
    config = (w.acct.home / ".ssh" / "config").read_text()
    assert f"IdentityAgent {w.sock}" in config and "AddKeysToAgent yes" in config
    assert BEGIN_RC in (w.acct.home / ".bashrc").read_text()
    agents = agents_of(w.acct.uid)
    assert len(agents) == 1 and os.stat(w.sock).st_uid == w.acct.uid
    assert oct(os.stat(w.sock.parent).st_mode & 0o777) == "0o700"

    # no terminal, no SSH_AUTH_SOCK (Jupyter's server, VS Code's Git panel): clone and pull, no prompt
    code, out, _ = _git(w, ["git", "clone", "-q", w.url, str(w.acct.home / "nb")], _bare_env(w))
    assert code == 0, out
    code, out, _ = _git(w, ["git", "-C", str(w.acct.home / "nb"), "pull", "-q"], _bare_env(w))
    assert code == 0, out
    # a Jupyter terminal (bash -ic), VS Code's environment probe (bash -ilc), a cron job (env -i)
    for i, shell in enumerate((["bash", "-ic"], ["bash", "-ilc"])):
        script = f'test "$SSH_AUTH_SOCK" = "{w.sock}" || [ {i} = 1 ]; git clone -q {w.url} sh{i}; git -C sh{i} pull -q'
        code, out, _ = _git(w, [*shell, script], _bare_env(w))
        assert code == 0, out
    cron = ["env", "-i", f"HOME={w.acct.home}", "PATH=/usr/bin:/bin", "sh", "-c",
            f"git clone -q {w.url} cron && git -C cron pull -q"]
    code, out, _ = _git(w, cron, _bare_env(w))
    assert code == 0, out

    # a restart: the agent is gone; without a terminal ssh fails at once with its own words
    kill_agents(w.acct.uid)
    code, out, took = _git(w, ["git", "-C", str(w.acct.home / "nb"), "pull", "-q"], _bare_env(w), timeout=30)
    assert code != 0 and "Permission denied" in out and took < 10, (code, out, took)
    doctor = w.onboard("doctor", "--key-type", "ed25519", "--providers-file", str(w.pins), "--providers", "local")
    assert doctor.returncode == 1 and "fix: onboard unlock" in doctor.stdout, doctor.stdout
    # a new interactive shell starts an (empty) agent again, detached from the shell
    code, out, _ = _git(w, ["bash", "-ic", 'ssh-add -l; echo "rc=$?"'], _bare_env(w))
    assert "rc=1" in out, out  # 1: an agent answers and holds no key; 2 would be "no agent"
    assert len(agents_of(w.acct.uid)) == 1
    # the startup script's unlock restores access (passphrase from a variable, never in an argv)
    back = w.onboard("unlock", "--key-type", "ed25519", "--passphrase-env", "DAY2_PW", env={"DAY2_PW": PW})
    assert back.returncode == 0 and "unlocked" in back.stderr, back.stderr
    code, out, _ = _git(w, ["git", "-C", str(w.acct.home / "nb"), "pull", "-q"], _bare_env(w))
    assert code == 0, out

    # reruns: one agent, one key, one block in each file
    again = w.onboard("unlock", "--key-type", "ed25519", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "already unlocked"
    assert _setup(w, "--keep-unlocked").returncode == 0
    assert len(agents_of(w.acct.uid)) == 1 and len(_held(w)) == 1
    assert (w.acct.home / ".ssh" / "config").read_text().count(BEGIN_SSH) == 1
    assert (w.acct.home / ".bashrc").read_text().count(BEGIN_RC) == 1

    # lock: the key leaves; a second lock has nothing to do, and says so with exit 0
    locked = w.onboard("lock", "--key-type", "ed25519", "--json")
    assert locked.returncode == 0 and json.loads(locked.stdout)["status"] == "locked"
    assert _held(w) == []
    locked = w.onboard("lock", "--key-type", "ed25519", "--json")
    assert locked.returncode == 0 and json.loads(locked.stdout)["status"] == "nothing to lock"


def test_the_agent_outlives_the_launchers_process_group_and_json_returns_at_once(world: World) -> None:
    w = world
    script = (f"{sys.executable} -m onboarding unlock --json --key-type ed25519 --passphrase-file {w.pwfile} "
              "> out.json; echo done > done; sleep 60")
    launcher = subprocess.Popen(as_account_argv(w.acct, ["sh", "-c", script]), env=account_env(w.acct),
                                cwd=w.acct.home, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (w.acct.home / "done").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # "$(onboard unlock --json)" returns: the agent holds no stdout of ours
        assert json.loads((w.acct.home / "out.json").read_text())["status"] == "unlocked"
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=10)
    time.sleep(0.2)
    assert len(agents_of(w.acct.uid)) == 1
    assert len(_held(w)) == 1  # still answering, key and all


def test_lifetime_lets_the_key_leave_by_itself(world: World) -> None:
    w = world
    done = w.onboard("unlock", "--key-type", "ed25519", "--passphrase-file", str(w.pwfile), "--lifetime", "2")
    assert done.returncode == 0, done.stderr
    assert len(_held(w)) == 1
    time.sleep(3)
    assert _held(w) == []
    config = w.acct.home / ".ssh" / "config"
    assert "AddKeysToAgent 2s" in config.read_text() if config.exists() else True


def test_without_keep_unlocked_no_file_names_the_agent(world: World) -> None:
    w = world
    done = _setup(w)
    assert done.returncode == 0, done.stderr
    for name in (".ssh/config", ".bashrc", ".profile", ".bash_profile"):
        path = w.acct.home / name
        assert not path.exists() or "onboard.sock" not in path.read_text()
    assert agents_of(w.acct.uid) == [] and not w.sock.parent.exists()


def test_wrong_passphrase_is_keygens_exit_and_starts_no_agent(world: World) -> None:
    w = world
    done = w.onboard("unlock", "--key-type", "ed25519", "--passphrase-env", "BAD", "--json", env={"BAD": "nope"})
    assert done.returncode == 5
    assert "does not open with this passphrase" in json.loads(done.stdout)["error"]["message"]
    assert agents_of(w.acct.uid) == []


def test_auth_test_signs_with_the_key_it_means_while_the_agent_holds_another(world: World) -> None:
    w = world
    assert _setup(w, "--keep-unlocked").returncode == 0  # the persistent agent holds id_ed25519
    other_key = w.acct.home / ".ssh" / "work_key"
    made = w.onboard("keygen", "-y", "--key-type", "ed25519", "--key-file", str(other_key), "--kdf-rounds", "2",
                     "--passphrase-file", str(w.pwfile), "--email", "work@example.com")
    assert made.returncode == 0, made.stderr
    w.sshd.authorize(Path(str(other_key) + ".pub"))  # only the other key is accepted now
    doctor = w.onboard("doctor", "--auth-test", "--key-file", str(other_key), "--passphrase-file", str(w.pwfile),
                       "--providers-file", str(w.pins), "--providers", "local")
    assert "auth:local" in doctor.stdout and "accepts the key" in doctor.stdout, doctor.stdout


def test_root_unlocks_for_a_user_whose_agent_another_account_cannot_use(world: World) -> None:
    w = world
    vault = root_safe_dir("onboard-day2-")
    try:
        pw = root_file(vault / "pw", PW, 0o600)
        argv = [sys.executable, "-m", "onboarding", "unlock", "--key-type", "ed25519", "--passphrase-file", str(pw),
                "--user", w.acct.name, "--json"]
        p = subprocess.run(argv, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                           capture_output=True, text=True, timeout=120, cwd="/", stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stdout + p.stderr
        agents = agents_of(w.acct.uid)
        assert len(agents) == 1  # running as the user (agents_of reads the real uid), not as root
        assert os.stat(w.sock).st_uid == w.acct.uid
        intruder = run_as(w.other, ["ssh-add", "-l"], env={**account_env(w.other), "SSH_AUTH_SOCK": str(w.sock)})
        assert intruder.returncode == 2, intruder.output  # cannot even reach the socket
    finally:
        shutil.rmtree(vault, ignore_errors=True)
