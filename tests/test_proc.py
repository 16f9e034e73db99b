"""proc.py, the one door for child processes: what a child may see of the caller's environment, deadlines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers.gitrepo import make_repo

from onboarding import proc

# What a caller's shell may hold that must never reach git, ssh or ssh-keygen started by onboard:
# variables that redirect or reconfigure git, root's agent, and secrets.
HOSTILE = {
    "GIT_DIR": "/victim/.git", "GIT_WORK_TREE": "/victim", "GIT_PROXY_COMMAND": "touch /tmp/pwned-proxy",
    "GIT_SSH_COMMAND": "ssh -o ProxyCommand=evil", "GIT_SSH": "/bin/evil", "GIT_EXEC_PATH": "/evil",
    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.sshCommand", "GIT_CONFIG_VALUE_0": "evil",
    "GIT_CONFIG_PARAMETERS": "'core.hooksPath'='/evil'", "GIT_CONFIG_GLOBAL": "/evil/gitconfig",
    "SSH_AUTH_SOCK": "/root/agent.sock", "SSH_ASKPASS": "/bin/evil",
    "GH_TOKEN": "ghp_secret1", "GITHUB_TOKEN": "ghp_secret2", "GITLAB_TOKEN": "glpat-secret3",
    "BITBUCKET_TOKEN": "bb-secret4", "GITEA_TOKEN": "gt-secret5", "BITBUCKET_EMAIL": "me@example.com",
    "ONBOARD_PASSPHRASE": "hunter2", "ONBOARD_VAULT_PASSWORD": "pw", "ONBOARD_API_TOKEN": "tok",
    "LD_PRELOAD": "/evil.so", "PYTHONSTARTUP": "/evil.py", "AWS_SECRET_ACCESS_KEY": "aws",
}
KEPT = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "CI_NAME": "my-instance", "https_proxy": "http://proxy:3128",
        "NO_PROXY": "localhost", "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem", "TERM": "xterm", "TZ": "UTC",
        "LOGNAME": "me", "USER": "me"}
PRINT_ENV = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


@pytest.fixture
def hostile_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**HOSTILE, **KEPT}.items():
        monkeypatch.setenv(name, value)


def child_env(**kw: object) -> dict[str, str]:
    done = proc.run(PRINT_ENV, timeout=60, **kw)  # type: ignore[arg-type]
    assert done.returncode == 0, done.err
    env: dict[str, str] = json.loads(done.out)
    return env


@pytest.mark.usefixtures("hostile_env")
def test_a_child_never_sees_the_callers_git_ssh_or_secret_variables(home: Path) -> None:
    env = child_env(extra={"GIT_TERMINAL_PROMPT": "0"})
    assert sorted(set(HOSTILE) & set(env)) == []
    assert not any(name.startswith(("GIT_CONFIG", "SSH_")) for name in env)
    for name, value in KEPT.items():
        assert env[name] == value, name
    assert env["HOME"] == str(home) and env["PATH"]
    assert env["GIT_TERMINAL_PROMPT"] == "0"  # what the step adds on purpose does arrive


@pytest.mark.usefixtures("hostile_env")
def test_a_started_child_gets_the_allowlist_too() -> None:
    p = proc.start(PRINT_ENV, extra={"SSH_AUTH_SOCK": "/private/agent"})
    done = proc.finish(p, deadline=None)
    env = json.loads(done.out)
    assert env["SSH_AUTH_SOCK"] == "/private/agent"  # the private agent, never the caller's
    assert sorted((set(HOSTILE) - {"SSH_AUTH_SOCK"}) & set(env)) == []


def test_without_path_a_child_still_finds_the_system_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATH")
    assert proc.clean_env()["PATH"]


def test_git_started_by_onboard_ignores_a_git_dir_and_config_of_the_callers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = make_repo(tmp_path / "victim")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("GIT_DIR", str(victim / ".git"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.planted")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "yes")
    assert proc.run(["git", "config", "--get", "user.planted"], timeout=30).returncode == 1  # not set for git
    done = proc.run(["git", "rev-parse", "--git-dir"], timeout=30, cwd=work)
    assert done.returncode != 0 and "not a git repository" in done.err  # not the victim's repository
    assert str(victim) not in done.out


@pytest.mark.usefixtures("hostile_env")
def test_caller_env_keeps_the_callers_git_variables_but_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PASSPHRASE_VAR", "from --passphrase-env")
    monkeypatch.setattr(proc, "SECRET_VARIABLES", {*proc.SECRET_VARIABLES, "MY_PASSPHRASE_VAR"})
    env = child_env(env=proc.caller_env({"LC_ALL": "C"}))
    assert env["GIT_DIR"] == "/victim/.git" and env["LD_PRELOAD"] == "/evil.so"  # git-info's SDK parity
    assert env["LC_ALL"] == "C"
    secrets = {"GH_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "BITBUCKET_TOKEN", "GITEA_TOKEN", "BITBUCKET_EMAIL",
               "ONBOARD_PASSPHRASE", "ONBOARD_VAULT_PASSWORD", "ONBOARD_API_TOKEN", "MY_PASSPHRASE_VAR"}
    assert sorted(secrets & set(env)) == []


@pytest.mark.parametrize(("name", "secret"), [
    ("ONBOARD_PASSPHRASE", True), ("onboard_api_token", True), ("ONBOARD_KV_SECRET", True),
    ("ONBOARD_DB_PASSWORD", True), ("GH_TOKEN", True), ("ONBOARD_EMAIL", False), ("MY_TOKEN", False),
])
def test_secret_names(name: str, secret: bool) -> None:
    assert proc.is_secret_name(name) is secret


def test_a_deadline_kills_the_child_and_its_grandchildren(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    # A grandchild that holds the pipes open would keep communicate() waiting without the group kill.
    done = proc.run(["sh", "-c", f"(sleep 5; touch {marker}) & sleep 60"], timeout=0.5)
    assert done.timed_out and done.returncode != 0
    done2 = proc.run(["sleep", "6"], timeout=30)  # outlive the grandchild's sleep
    assert not done2.timed_out and done2.returncode == 0
    assert not marker.exists()


def test_a_finished_child_is_not_a_timeout() -> None:
    done = proc.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
    assert (done.returncode, done.out, done.err, done.timed_out) == (3, "out\n", "err\n", False)
    assert proc.run(["cat"], timeout=30, input=b"given").out == "given"


def test_a_missing_tool_is_exit_127_not_an_exception() -> None:
    done = proc.run(["onboard-no-such-tool"], timeout=5)
    assert done.returncode == 127 and "onboard-no-such-tool" in done.err and not done.timed_out


def test_ssh_effective_reads_the_given_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host pinned.example\n  HashKnownHosts yes\n  Port 2222\nHost *\n  HashKnownHosts no\n")
    seen = proc.ssh_effective("pinned.example", cfg)
    assert seen["hashknownhosts"] == "yes" and seen["port"] == "2222" and seen["hostname"] == "pinned.example"
    assert proc.ssh_effective("other.example", cfg)["hashknownhosts"] == "no"
    assert proc.ssh_effective("-oProxyCommand=x", cfg) == {}  # ssh refuses it: nothing, not an option
