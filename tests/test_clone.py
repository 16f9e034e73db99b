"""onboard clone against a real sshd: no hang, no passphrase leak, nothing half-done."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.gitrepo import git, make_bare, make_repo
from helpers.gitserver import client_key, interrupt_when, silent_server
from helpers.procwatch import ProcWatcher
from helpers.run import onboard
from helpers.sshd import Sshd

from onboarding import clone
from onboarding.errors import ConflictError, GitError, NetworkError

PW = "clone passphrase 42"


def make_key(home: Path, tmp_path: Path, *, passphrase: str | None = PW, name: str = "id_ed25519") -> Path:
    args = ["keygen", "-y", "--key-type", "ed25519", "--key-file", str(home / ".ssh" / name)]
    if passphrase:
        pw = tmp_path / "pw"
        pw.write_text(passphrase + "\n")
        args += ["--passphrase-file", str(pw)]
    else:
        args += ["--no-passphrase"]
    r = onboard(*args)
    assert r.returncode == 0, r.output
    return home / ".ssh" / name


def pins(sshd: Sshd, tmp_path: Path) -> Path:
    f = tmp_path / "pins.toml"
    f.write_text(sshd.providers_toml())
    return f


def agents() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if "ssh-agent -D -a" in ln and "onboard-agent-" in ln]


@pytest.mark.sshd
def test_passphrase_key_without_terminal_clones_and_never_leaks(sshd: Sshd, bare_repo: str, home: Path,
                                                                 tmp_path: Path) -> None:
    key = make_key(home, tmp_path)
    sshd.authorize(Path(str(key) + ".pub"))
    dest = tmp_path / "work" / "app"
    scratch = tmp_path / "tmp"  # the run's TMPDIR: its agent is told apart from other runs on the machine
    scratch.mkdir()
    with ProcWatcher(PW, agents_under=scratch) as watcher:
        r = onboard("clone", sshd.url(bare_repo), "-y", "--providers-file", str(pins(sshd, tmp_path)),
                    "--key-file", str(key), "--passphrase-file", str(tmp_path / "pw"), "--dest", str(dest),
                    timeout=60, env={"TMPDIR": str(scratch)})
    assert r.returncode == 0, r.output
    assert (dest / "src" / "main.py").read_text() == "print(1)\n"
    assert watcher.samples > 10 and watcher.agent_pids  # the watcher really watched the agent's life
    assert watcher.hits == []
    assert PW not in r.output
    assert [a for a in agents() if str(scratch) in a] == []  # the private agent is gone
    assert not list(scratch.glob("onboard-agent-*"))
    # the managed ssh config block names the key (it is at the default path: no block)
    assert not (home / ".ssh" / "config").exists()


@pytest.mark.sshd
def test_non_default_key_gets_a_managed_ssh_config_block(sshd: Sshd, bare_repo: str, home: Path,
                                                          tmp_path: Path) -> None:
    key = make_key(home, tmp_path, passphrase=None, name="work_key")
    sshd.authorize(Path(str(key) + ".pub"))
    config = home / ".ssh" / "config"
    config.write_text("Host *\n    ServerAliveInterval 60\n")
    r = onboard("clone", sshd.url(bare_repo), "-y", "--providers-file", str(pins(sshd, tmp_path)),
                "--key-file", str(key), "--dest", str(tmp_path / "c1"))
    assert r.returncode == 0, r.output
    text = config.read_text()
    assert text.startswith("Host *\n    ServerAliveInterval 60\n\n# >>> onboard")  # appended, user's lines first
    assert "IdentityFile ~/.ssh/work_key" in text and "IdentitiesOnly yes" in text
    assert config.stat().st_mode & 0o022 == 0  # ssh refuses a config others can write
    before = config.read_bytes()
    r = onboard("clone", sshd.url(bare_repo), "-y", "--providers-file", str(pins(sshd, tmp_path)),
                "--key-file", str(key), "--dest", str(tmp_path / "c2"))
    assert r.returncode == 0 and config.read_bytes() == before  # idempotent


@pytest.mark.sshd
def test_key_outside_ssh_dir_creates_ssh_dir_for_the_config_block(sshd: Sshd, bare_repo: str, home: Path,
                                                                   tmp_path: Path) -> None:
    key = tmp_path / "keys" / "deploy"
    r = onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase", "--key-file", str(key))
    assert r.returncode == 0, r.output
    sshd.authorize(Path(str(key) + ".pub"))
    assert not (home / ".ssh").exists()
    r = onboard("clone", sshd.url(bare_repo), "-y", "--providers-file", str(pins(sshd, tmp_path)),
                "--key-file", str(key), "--dest", str(tmp_path / "c"))
    assert r.returncode == 0, r.output
    assert (home / ".ssh").stat().st_mode & 0o777 == 0o700
    assert f"IdentityFile {key}" in (home / ".ssh" / "config").read_text()


@pytest.mark.sshd
def test_unauthorized_key_is_exit_6_with_hint_and_leaves_nothing(sshd: Sshd, bare_repo: str, home: Path,
                                                                  tmp_path: Path) -> None:
    key = make_key(home, tmp_path, passphrase=None)
    dest = tmp_path / "nope"
    r = onboard("clone", sshd.url(bare_repo), "-y", "--providers-file", str(pins(sshd, tmp_path)),
                "--key-file", str(key), "--dest", str(dest))
    assert r.returncode == 6, r.output
    assert "Permission denied" in r.stderr and "add " in r.stderr
    assert not dest.exists()


@pytest.mark.sshd
def test_unknown_host_is_refused_with_exit_3(sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    key = make_key(home, tmp_path, passphrase=None)
    sshd.authorize(Path(str(key) + ".pub"))
    dest = tmp_path / "x"
    r = onboard("clone", sshd.url(bare_repo), "-y", "--key-file", str(key), "--dest", str(dest))
    assert r.returncode == 3 and "trust it on first use" in r.stderr and "--providers-file" in r.stderr
    assert not dest.exists()


@pytest.mark.sshd
def test_host_already_in_known_hosts_is_accepted(sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    key = make_key(home, tmp_path, passphrase=None)
    sshd.authorize(Path(str(key) + ".pub"))
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {sshd.public_key('ed25519')}\n")
    r = onboard("clone", sshd.url(bare_repo), "-y", "--key-file", str(key), "--dest", str(tmp_path / "ok"))
    assert r.returncode == 0, r.output
    assert "already in" in r.stderr


@pytest.mark.sshd
def test_busy_destination_is_exit_5_and_untouched(sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep\n")
    r = onboard("clone", sshd.url(bare_repo), "-y", "--dest", str(dest))
    assert r.returncode == 5 and "not empty" in r.stderr
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]


def test_cloudfiles_layout_and_name_resolution(home: Path, tmp_path: Path) -> None:
    from onboarding.clone import parse_url, resolve_destination
    from onboarding.errors import UsageError
    from onboarding.instance import resolve_target

    tgt = resolve_target(None)
    url = parse_url("git@github.com:org/app.git")
    root = tmp_path / "cloudfiles" / "code"
    (root / "Users" / "alice").mkdir(parents=True)

    def where(**kw: object) -> Path:
        args: dict[str, object] = {"target": "cloudfiles", "dest": None, "local_root": None,
                                   "cloudfiles_root": root, "cloudfiles_user_name": None, "tgt": tgt}
        args.update(kw)
        return resolve_destination(url, **args).path  # type: ignore[arg-type]

    assert where() == root / "Users" / "alice" / "app"  # the only folder under Users/
    (root / "Users" / "bob").mkdir()
    with pytest.raises(UsageError, match=r"2 folders there \(alice, bob\)") as info:
        where()  # several: never a guess from the login name
    assert "--cloudfiles-user" in str(info.value.hint)
    assert where(cloudfiles_user_name="bob") == root / "Users" / "bob" / "app"
    assert where(target="local") == home / "app"
    assert where(target="local", local_root=tmp_path / "src") == tmp_path / "src" / "app"
    with pytest.raises(UsageError, match="not mounted"):
        where(cloudfiles_root=tmp_path / "missing")
    (home / "cloudfiles" / "code").mkdir(parents=True)
    assert where(cloudfiles_root=None, cloudfiles_user_name="carol") == home / "cloudfiles/code/Users/carol/app"


def test_missing_cloudfiles_root_is_exit_2() -> None:
    r = onboard("clone", "git@github.com:org/app.git", "-y", "--target", "cloudfiles", "--offline")
    assert r.returncode == 2 and "cloudfiles share is not mounted" in r.stderr


def test_mnt_is_refused() -> None:
    r = onboard("clone", "git@github.com:org/app.git", "-y", "--dest", "/mnt/app")
    assert r.returncode == 2 and "wiped when the instance restarts" in r.stderr


@pytest.fixture
def git_spy(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `git` (and `ssh`) first on PATH that records every call and fails."""
    bindir = tmp_path / "spybin"
    bindir.mkdir()
    log = tmp_path / "spy.log"
    for name in ("git", "ssh"):
        script = bindir / name
        script.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {log}\nexit 99\n")
        script.chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}, log


@pytest.mark.parametrize(("url", "reason"), [
    ("-oProxyCommand=touch /tmp/pwned", "starts with '-'"),
    ("ext::sh -c touch% /tmp/pwned", "remote helpers"),
    ("fd::17", "remote helpers"),
    ("file:///etc", "not SSH"),
    ("/srv/repo.git", "local paths"),
    ("./repo", "local paths"),
    ("../../etc", "local paths"),
    ("https://github.com/org/app.git", "clones over SSH"),
    ("http://example.com/app.git", "clones over SSH"),
    ("git://example.com/app.git", "not SSH"),
    ("ssh://-oProxyCommand=x@host/app.git", "bad"),
    ("git@-oProxyCommand=x:app.git", "bad host"),
    ("git@github.com:org/..", "safe folder name"),
    ("git@github.com:org/-rf.git", "safe folder name"),
    ("git@github.com:org/app\n.git", "not a repository URL"),
])
def test_refused_urls_exit_2_and_run_nothing(url: str, reason: str, git_spy: tuple[dict[str, str], Path],
                                             tmp_path: Path) -> None:
    env, log = git_spy
    r = onboard("clone", url, "-y", "--offline", "--local-root", str(tmp_path / "root"), env=env)
    assert r.returncode == 2, r.output
    assert reason in r.stderr
    assert not log.exists()
    assert not (tmp_path / "root").exists()
    assert not Path("/tmp/pwned").exists()


def test_https_refusal_suggests_the_ssh_form() -> None:
    r = onboard("clone", "https://dev.azure.com/org/proj/_git/lib", "-y")
    assert "git@ssh.dev.azure.com:v3/org/proj/lib" in r.stderr
    r = onboard("clone", "https://github.com/org/app", "-y")
    assert "git@github.com:org/app.git" in r.stderr


@pytest.mark.parametrize(("url", "name", "host", "port"), [
    ("git@github.com:org/app.git", "app", "github.com", 22),
    ("ssh://git@ssh.github.com:443/org/app.git", "app", "ssh.github.com", 443),
    ("git@ssh.dev.azure.com:v3/org/proj/lib", "lib", "ssh.dev.azure.com", 22),
    ("org@vs-ssh.visualstudio.com:v3/org/proj/lib", "lib", "vs-ssh.visualstudio.com", 22),
    ("git+ssh://git@gitlab.com/team/sub/tool.git/", "tool", "gitlab.com", 22),
])
def test_accepted_url_forms(url: str, name: str, host: str, port: int) -> None:
    from onboarding import providers
    from onboarding.clone import parse_url

    u = parse_url(url)
    assert (u.name, u.host, u.port) == (name, host, port)
    assert providers.for_host(providers.builtin(), u.host, u.port) is not None


@pytest.mark.sshd
def test_interrupted_clone_of_a_large_repo_leaves_nothing(sshd: Sshd, home: Path, tmp_path: Path) -> None:
    big = f"big{time.monotonic_ns()}.git"
    work = tmp_path / "bigwork"
    work.mkdir()
    git("init", "-q", str(work))
    for i in range(6):  # incompressible data, so the transfer takes a while
        (work / f"blob{i}.bin").write_bytes(os.urandom(20 * 1024 * 1024))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "big", cwd=work)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(sshd.root / "repos" / big)], check=True)
    key = make_key(home, tmp_path, passphrase=None)
    sshd.authorize(Path(str(key) + ".pub"))
    dest = tmp_path / "bigclone"
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = subprocess.Popen(
            [sys.executable, "-m", "onboarding", "clone", sshd.url(big), "-y", "--providers-file",
             str(pins(sshd, tmp_path)), "--key-file", str(key), "--dest", str(dest)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not (dest / ".git").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (dest / ".git").exists(), "the clone never started"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert not dest.exists()


@pytest.mark.sshd
def test_user_flag_clone_is_owned_by_that_user(sshd: Sshd, bare_repo: str, other_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = Path(other_user.pw_dir)
    r = onboard("keygen", "-y", "--user", other_user.pw_name, "--key-type", "ed25519", "--no-passphrase")
    assert r.returncode == 0, r.output
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    pins_file = tmp_path / "pins.toml"
    pins_file.write_text(sshd.providers_toml())
    pins_file.chmod(0o644)
    r = onboard("clone", sshd.url(bare_repo), "-y", "--user", other_user.pw_name, "--key-type", "ed25519",
                "--providers-file", str(pins_file))
    assert r.returncode == 0, r.output
    name = bare_repo[:-4]
    clone = home / name
    for p in [clone, *clone.rglob("*"), home / ".ssh" / "known_hosts"]:
        assert p.lstat().st_uid == other_user.pw_uid, p


@pytest.mark.sshd
def test_missing_key_and_unanswerable_passphrase_are_exit_2(sshd: Sshd, bare_repo: str, home: Path,
                                                            tmp_path: Path) -> None:
    args = ("clone", sshd.url(bare_repo), "-y", "--providers-file", str(pins(sshd, tmp_path)),
            "--key-type", "ed25519", "--dest", str(tmp_path / "d"))
    r = onboard(*args)
    assert r.returncode == 2 and "no SSH key at" in r.stderr and "onboard keygen" in r.stderr
    make_key(home, tmp_path)  # with a passphrase
    r = onboard(*args)  # no terminal, no passphrase source, no agent: refuse rather than hang
    assert r.returncode == 2, r.output
    assert "passphrase" in r.stderr and "--passphrase-file" in r.stderr
    assert not (tmp_path / "d").exists()


def test_dest_with_several_repos_is_a_usage_error(home: Path) -> None:
    r = onboard("setup", "-y", "--no-passphrase", "--offline", "--dest", "/tmp/x", "--repo", "git@github.com:o/a.git",
                "--repo", "git@github.com:o/b.git")
    assert r.returncode == 2 and "--dest names one folder" in r.stderr


def test_an_existing_clone_of_the_same_repository_in_another_spelling_is_kept(home: Path, tmp_path: Path) -> None:
    """`clone` agrees with setup's rerun: the same repository (scp vs ssh://, user, .git) is kept, exit 0."""
    from helpers.gitrepo import make_bare

    origin = make_bare(tmp_path / "app.git")
    git("clone", "-q", str(origin), str(home / "app"))
    git("remote", "set-url", "origin", "ssh://git@GitHub.com:22/org/app", cwd=home / "app")
    r = onboard("clone", "git@github.com:org/app.git", "-y", "--json")
    assert r.returncode == 0, r.output
    assert json.loads(r.stdout)["status"] == "exists"
    git("remote", "set-url", "origin", "git@github.com:org/other.git", cwd=home / "app")
    r = onboard("clone", "git@github.com:org/app.git", "-y")
    assert r.returncode == 5 and "already exists and is not empty" in r.stderr


# -- in-process: the clone step itself (clone.run_clone, check_free) ------------------------
def _options(tmp_path: Path, key: Path, known: str = "") -> clone.SshOptions:
    kh = tmp_path / "known_hosts"
    kh.write_text(known)
    return clone.SshOptions(key=key, known_hosts=kh, batch=True, connect_timeout=5)


def _served_repo(sshd: Sshd, tmp_path: Path) -> str:
    """A bare repository with `main` (two commits) and a `feature` branch with its own file."""
    name = f"branches{time.monotonic_ns()}.git"
    work = tmp_path / "branchwork"
    make_repo(work, {"README.md": "one\n"})
    (work / "README.md").write_text("two\n")
    git("commit", "-q", "-am", "second", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    (work / "feature.txt").write_text("only on feature\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "feature", cwd=work)
    git("checkout", "-q", "main", cwd=work)
    git("clone", "-q", "--bare", str(work), str(sshd.root / "repos" / name))
    return name


@pytest.mark.sshd
def test_branch_and_depth_reach_git(sshd: Sshd, tmp_path: Path) -> None:
    key = client_key(tmp_path / "keys")
    sshd.authorize(Path(str(key) + ".pub"))
    o = _options(tmp_path, key, f"[127.0.0.1]:{sshd.port} {sshd.public_key('ed25519')}\n")
    url = clone.parse_url(sshd.url(_served_repo(sshd, tmp_path)))
    dest = tmp_path / "out"
    clone.run_clone(url, dest, o, branch="feature", depth=1, progress=False)
    assert (dest / "feature.txt").read_text() == "only on feature\n"  # --branch: that branch is checked out
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=dest).strip() == "feature"
    assert git("rev-parse", "--is-shallow-repository", cwd=dest).strip() == "true"  # --depth 1
    assert git("rev-list", "--count", "HEAD", cwd=dest).strip() == "1"
    full = tmp_path / "full"
    clone.run_clone(url, full, o, branch=None, depth=None, progress=False)
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=full).strip() == "main"
    assert git("rev-list", "--count", "HEAD", cwd=full).strip() == "2"
    assert not (full / "feature.txt").exists()


def test_a_branch_that_looks_like_an_option_is_refused(tmp_path: Path) -> None:
    from onboarding.errors import UsageError

    url = clone.parse_url("git@github.com:org/app.git")
    with pytest.raises(UsageError, match="cannot start with '-'"):
        clone.run_clone(url, tmp_path / "d", _options(tmp_path, tmp_path / "k"), branch="--upload-pack=touch x",
                        depth=None, progress=False)
    assert not (tmp_path / "d").exists()


def test_an_insteadof_rewrite_to_a_local_path_is_not_followed(home: Path, tmp_path: Path) -> None:
    """A git config rewrite (url.<x>.insteadOf) of an accepted ssh URL to the file transport is refused by git."""
    local = tmp_path / "local"
    make_bare(local / "app.git", {"README.md": "local data\n"})
    (home / ".gitconfig").write_text(f'[url "file://{local}/"]\n\tinsteadOf = git@example.invalid:\n')
    url = clone.parse_url("git@example.invalid:app.git")
    dest = tmp_path / "dest"
    with pytest.raises(GitError, match="transport 'file' not allowed"):
        clone.run_clone(url, dest, _options(tmp_path, tmp_path / "k"), branch=None, depth=None, progress=False)
    assert not dest.exists()


def test_a_failed_clone_into_a_fresh_folder_removes_it(tmp_path: Path) -> None:
    with silent_server() as port:
        url = clone.parse_url(f"ssh://git@127.0.0.1:{port}/app.git")
        dest = tmp_path / "parent" / "app"
        with pytest.raises(NetworkError):
            clone.run_clone(url, dest, _options(tmp_path, tmp_path / "k"), branch=None, depth=None, progress=False)
    assert not dest.exists()
    assert not (tmp_path / "parent").exists()  # the empty parent made for it goes too: no empty folder left


@pytest.mark.parametrize("existed", [True, False], ids=["empty-folder-existed", "fresh"])
def test_an_interrupted_clone_leaves_what_was_there(tmp_path: Path, existed: bool) -> None:
    """Ctrl-C while git is connecting (git already laid out .git): SIGKILLed git cleans nothing up itself."""
    dest = tmp_path / "dest"
    if existed:
        dest.mkdir()
    with silent_server() as port:
        url = clone.parse_url(f"ssh://git@127.0.0.1:{port}/app.git")
        with pytest.raises(KeyboardInterrupt), interrupt_when(lambda: (dest / ".git" / "HEAD").exists()):
            clone.run_clone(url, dest, _options(tmp_path, tmp_path / "k"), branch=None, depth=None,
                            progress=False)
    if existed:
        assert dest.is_dir() and list(dest.iterdir()) == []  # the user's empty folder, empty again
    else:
        assert not os.path.lexists(dest)


def test_cleanup_of_an_existing_folder_removes_only_its_contents_not_link_targets(tmp_path: Path) -> None:
    """What git left in a folder that existed empty goes; a symlink in it is unlinked, never followed."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / ".git" / "objects").mkdir(parents=True)
    (dest / "file").write_text("x")
    (dest / "link").symlink_to(victim)
    clone.remove_created(dest, created=False)
    assert dest.is_dir() and list(dest.iterdir()) == []
    assert (victim / "precious").read_text() == "keep\n"


@pytest.mark.parametrize("kind", ["symlink-to-empty-dir", "file", "non-empty-dir", "dangling-symlink"])
def test_check_free_refuses_anything_but_an_empty_real_folder(tmp_path: Path, kind: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    path = tmp_path / "dest"
    if kind == "symlink-to-empty-dir":
        path.symlink_to(empty)  # git would clone through the link into a folder elsewhere
    elif kind == "file":
        path.write_text("x")
    elif kind == "non-empty-dir":
        path.mkdir()
        (path / ".hidden").write_text("x")
    else:
        path.symlink_to(tmp_path / "missing")
    with pytest.raises(ConflictError, match="already exists and is not empty"):
        clone.check_free(path)


def test_check_free_accepts_an_absent_path_and_an_empty_folder(tmp_path: Path) -> None:
    clone.check_free(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    clone.check_free(tmp_path / "empty")


def test_ssh_is_told_to_trust_only_the_verified_hosts_and_key(tmp_path: Path) -> None:
    o = clone.SshOptions(key=tmp_path / "k y", known_hosts=tmp_path / "kh", batch=True, connect_timeout=0.2)
    argv = shlex.split(clone.git_env(o)["GIT_SSH_COMMAND"])
    opts = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-o")
    assert argv[argv.index("-i") + 1] == str(tmp_path / "k y")
    assert opts["StrictHostKeyChecking"] == "yes" and opts["IdentitiesOnly"] == "yes"
    assert opts["UserKnownHostsFile"] == str(tmp_path / "kh") and opts["UpdateHostKeys"] == "no"
    assert opts["BatchMode"] == "yes"
    assert opts["ConnectTimeout"] == "1"  # never 0: that would mean no timeout at all
    assert int(opts["ServerAliveInterval"]) > 0 and int(opts["ServerAliveCountMax"]) > 0
    assert clone.git_env(o)["GIT_TERMINAL_PROMPT"] == "0"
    interactive = clone.SshOptions(key=tmp_path / "k", known_hosts=tmp_path / "kh", batch=False,
                                   agent_sock=tmp_path / "agent.sock")
    env = clone.git_env(interactive)
    assert "BatchMode" not in env["GIT_SSH_COMMAND"]
    assert env["SSH_AUTH_SOCK"] == str(tmp_path / "agent.sock")
    assert "SSH_AUTH_SOCK" not in clone.git_env(o)
