"""onboard clone against a real sshd: no hang, no passphrase leak, nothing half-done."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
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


def _where(tmp_path: Path, **kw: object) -> clone.Destination:
    from onboarding.instance import resolve_target

    args: dict[str, object] = {"target": "local", "dest": None, "local_root": None, "cloudfiles_root": None,
                               "cloudfiles_user_name": None, "tgt": resolve_target(None)}
    args.update(kw)
    return clone.resolve_destination(clone.parse_url("git@github.com:org/app.git"), **args)  # type: ignore[arg-type]


def test_dest_is_made_absolute_with_home_expanded_and_named_as_given(home: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from onboarding.errors import UsageError

    monkeypatch.chdir(tmp_path)
    assert _where(tmp_path, dest=Path("rel/here")) == clone.Destination(tmp_path / "rel" / "here", "dest")
    assert _where(tmp_path, dest=Path("~/code/x"), target="cloudfiles") == clone.Destination(home / "code/x", "dest")
    with pytest.raises(UsageError, match="read as an option"):  # git would take it for an option
        _where(tmp_path, dest=Path("-rf"))
    assert _where(tmp_path, local_root=Path("~/src")) == clone.Destination(home / "src" / "app", "local")
    share = home / "cf"
    (share / "Users" / "alice").mkdir(parents=True)
    assert _where(tmp_path, target="cloudfiles", cloudfiles_root=Path("~/cf")) == clone.Destination(
        share / "Users" / "alice" / "app", "cloudfiles")


def test_the_temporary_disk_is_refused_also_behind_a_link_but_the_share_under_it_is_not(tmp_path: Path) -> None:
    from onboarding.errors import UsageError

    (tmp_path / "scratch").symlink_to("/mnt")
    for dest in (Path("/mnt"), Path("/mnt/data/app"), tmp_path / "scratch" / "app"):
        with pytest.raises(UsageError, match="temporary disk"):
            _where(tmp_path, dest=dest)
    with pytest.raises(UsageError, match="temporary disk"):  # --local-root is checked as well
        _where(tmp_path, local_root=Path("/mnt/work"))
    share = clone.KEPT_UNDER_MNT / "clusters" / "ci1" / "code" / "Users" / "alice" / "app"
    assert _where(tmp_path, dest=share) == clone.Destination(share, "dest")  # the cloudfiles share's real place
    assert _where(tmp_path, dest=Path("/mntx/app")).path == Path("/mntx/app")  # only /mnt itself is wiped


def test_cloudfiles_folder_is_the_given_one_or_the_only_one(tmp_path: Path) -> None:
    from onboarding.errors import UsageError

    root = tmp_path / "share"
    root.mkdir()
    assert clone.cloudfiles_folders(root) == []  # no Users/ yet: no folders, no error
    with pytest.raises(UsageError) as info:
        clone.cloudfiles_user(root, None)
    assert str(info.value) == f"which folder under {root / 'Users'} is yours? no folder there"
    assert clone.cloudfiles_user(root, "bob") == "bob"  # given: used even before the folder exists
    with pytest.raises(UsageError, match="not a plain folder name"):
        clone.cloudfiles_user(root, "../bob")
    (root / "Users" / "zed").mkdir(parents=True)
    (root / "Users" / "notes.txt").write_text("x")  # a file is nobody's folder
    assert clone.cloudfiles_folders(root) == ["zed"]
    assert clone.cloudfiles_user(root, None) == "zed"
    (root / "Users" / "amy").mkdir()
    assert clone.cloudfiles_folders(root) == ["amy", "zed"]
    with pytest.raises(UsageError, match=r"2 folders there \(amy, zed\)"):
        clone.cloudfiles_user(root, None)


def test_existing_clone_url_reads_the_clones_own_config_file_only(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert clone.existing_clone_url(plain) is None
    repo = tmp_path / "repo"
    git("init", "-q", str(repo))
    assert clone.existing_clone_url(repo) is None  # a repository without origin
    git("remote", "add", "origin", "git@github.com:org/app.git", cwd=repo)
    assert clone.existing_clone_url(repo) == "git@github.com:org/app.git"
    sneaky = tmp_path / "sneaky"
    git("init", "-q", str(sneaky))
    (tmp_path / "inc").write_text('[remote "origin"]\n\turl = git@github.com:org/app.git\n')
    git("config", "include.path", str(tmp_path / "inc"), cwd=sneaky)
    assert git("config", "--get", "remote.origin.url", cwd=sneaky).strip()  # git itself would follow it
    assert clone.existing_clone_url(sneaky) is None  # we do not: the repository chooses nothing we read


def test_same_repository_across_spellings_and_never_for_no_origin() -> None:
    assert clone.same_repository("ssh://git@GitHub.com:22/org/app/", "git@github.com:org/app.git")
    assert not clone.same_repository("git@github.com:org/other.git", "git@github.com:org/app.git")
    assert not clone.same_repository(None, "git@github.com:org/app.git")


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


@pytest.mark.parametrize(("url", "reason"), [
    ("", "not a repository URL"),
    ("git@github.com:org\t/app.git", "not a repository URL"),  # a control character anywhere, not only in the name
    ("-oProxyCommand=x:app.git", "starts with '-'"),  # the reason names the option, not just "bad host"
    ("app", "local paths"),  # a bare word: a folder next to the caller
    ("ssh:///app.git", "no host"),
    ("ssh://github.com/", "no repository path"),
    ("a;b@github.com:org/app.git", "bad user name"),
    ("ssh://a;b@github.com/org/app.git", "bad user name"),
    ("git@github.com:-oX/app.git", "safe folder name"),  # a path git would hand on as an option
    ("git@github.com:org/a b.git", "safe folder name"),
    ("git@github.com:org/.git", "safe folder name"),
])
def test_parse_url_refuses_with_the_reason_the_user_reads(url: str, reason: str) -> None:
    from onboarding.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(reason)) as info:
        clone.parse_url(url)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("url", "hint"), [
    ("https://github.com/org/app", "use the SSH form: git@github.com:org/app.git"),
    ("https://github.com/Xilinx/XRT", "use the SSH form: git@github.com:Xilinx/XRT.git"),  # only '/' is trimmed
    ("HTTP://example.com/org/app.git/", "use the SSH form: git@example.com:org/app.git"),  # any case, one .git
    ("https://dev.azure.com/org/proj/_git/lib", "use the SSH form: git@ssh.dev.azure.com:v3/org/proj/lib"),
    ("https://gitlab.com/team/_git/lib", "use the SSH form: git@gitlab.com:team/_git/lib.git"),  # not Azure's
    ("https:///org/app", "use the SSH form: git@HOST:org/app.git"),  # no host to name
    ("https://github.com/", "use the SSH form git@HOST:ORG/REPO.git"),  # no path to keep
    ("https://[::1/org/app", "use the SSH form git@HOST:ORG/REPO.git"),  # not even a URL
])
def test_an_http_url_is_refused_with_its_ssh_form_in_process(url: str, hint: str) -> None:
    from onboarding.errors import UsageError

    with pytest.raises(UsageError, match="clones over SSH") as info:
        clone.parse_url(url)
    assert info.value.hint == hint


@pytest.mark.parametrize(("url", "expected"), [
    # what git gets is the text as given, stripped of the newline a paste brings along
    ("  git@github.com:org/app.git\n", ("git@github.com:org/app.git", "git", "github.com", 22, "org/app.git")),
    ("github.com:org/app.git", ("github.com:org/app.git", None, "github.com", 22, "org/app.git")),  # no user
    ("ssh://git@github.com/org/app.git", ("ssh://git@github.com/org/app.git", "git", "github.com", 22,
                                          "/org/app.git")),
    ("ssh+git://git@github.com/org/app.git", ("ssh+git://git@github.com/org/app.git", "git", "github.com", 22,
                                              "/org/app.git")),
    # only control characters are refused: a space inside the path is text git passes on as one argument
    ("git@github.com:team space/app.git", ("git@github.com:team space/app.git", "git", "github.com", 22,
                                           "team space/app.git")),
    # the first colon ends the host: a later one belongs to the path
    ("git@github.com:org/v1:2/app.git", ("git@github.com:org/v1:2/app.git", "git", "github.com", 22,
                                         "org/v1:2/app.git")),
    ("ssh://git@example.com:2222/X", ("ssh://git@example.com:2222/X", "git", "example.com", 2222, "/X")),
])
def test_parse_url_keeps_text_user_host_port_and_path(url: str, expected: tuple[object, ...]) -> None:
    u = clone.parse_url(url)
    assert (u.text, u.user, u.host, u.port, u.path) == expected
    assert u.name == str(expected[4]).rsplit("/", 1)[-1].removesuffix(".git")


def test_with_user_puts_the_login_into_the_host_part_of_either_form() -> None:
    from onboarding.errors import UsageError

    scp = clone.with_user(clone.parse_url("github.com:org/app.git"), "git")
    assert scp == clone.parse_url("git@github.com:org/app.git")
    ssh = clone.with_user(clone.parse_url("ssh://ssh.github.com:443/org/app.git"), "git")
    assert (ssh.text, ssh.user, ssh.host, ssh.port) == ("ssh://git@ssh.github.com:443/org/app.git", "git",
                                                        "ssh.github.com", 443)
    # only the scheme's `://` is where the user goes, not a later one inside the path
    odd = clone.with_user(clone.parse_url("ssh://host/org/x://y/app.git"), "git")
    assert (odd.text, odd.user, odd.path) == ("ssh://git@host/org/x://y/app.git", "git", "/org/x://y/app.git")
    with pytest.raises(UsageError, match="bad user name"):  # the provider's user is checked like a typed one
        clone.with_user(clone.parse_url("github.com:org/app.git"), "a;b")


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


def test_git_clone_argv_allows_only_ssh_and_ends_the_options_before_the_url(tmp_path: Path) -> None:
    url = clone.parse_url("git@github.com:org/app.git")
    dest = tmp_path / "d"
    head = ["git", "-c", "protocol.allow=never", "-c", "protocol.ssh.allow=always", "clone"]
    assert clone.git_clone_argv(url, dest, branch=None, depth=None, progress=False) == [
        *head, "--quiet", "--", "git@github.com:org/app.git", str(dest)]
    assert clone.git_clone_argv(url, dest, branch="release/1.0", depth=3, progress=True) == [
        *head, "--progress", "--branch", "release/1.0", "--depth", "3", "--", "git@github.com:org/app.git", str(dest)]


@pytest.mark.parametrize(("message", "network"), [
    ("ssh: connect to host example.com port 22: Connection refused", True),
    ("ssh: Could not resolve hostname example.invalid: Name or service not known", True),
    ("Connection to example.com port 22 timed out", True),  # "Connection to .* timed out" is a pattern
    ("kex_exchange_identification: read: Connection reset by peer", True),
    ("git@example.com: Permission denied (publickey).", False),
    ("fatal: Remote branch nope not found in upstream origin", False),
    ("", False),
])
def test_failure_tells_an_unreachable_host_exit_4_from_a_git_refusal_exit_6(message: str, network: bool) -> None:
    err = clone.failure(128, message)
    assert type(err) is (NetworkError if network else GitError)
    assert err.exit_code == (4 if network else 6)
    assert str(err) == ("git clone failed (exit 128)" + (f":\n{message}" if message else ""))


# A fake `ssh` first on PATH: it records what it was given and then plays the server (runs the
# git-upload-pack command git asks for in a local folder), refuses, or hangs.
_FAKE_SSH = """#!/bin/sh
d=$(dirname "$0")
printf '%s\\n' "$@" > "$d/argv"
env > "$d/env"
cut -d' ' -f6 /proc/$$/stat > "$d/sid"
echo $$ > "$d/pid"
case $(cat "$d/mode") in
  fail) cat "$d/stderr" >&2; exit 255;;
  hang) exec sleep 30;;
esac
echo "fake ssh: serving" >&2
for last; do :; done
cd "$d/../served" && exec sh -c "$last"
"""


class FakeSsh:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        (self.bin / "ssh").write_text(_FAKE_SSH)
        (self.bin / "ssh").chmod(0o755)
        work = make_repo(root / "work", {"README.md": "first\n"})
        (work / "README.md").write_text("served\n")
        git("commit", "-q", "-am", "second", cwd=work)
        git("clone", "-q", "--bare", str(work), str(root / "served" / "org" / "app.git"))
        self.mode("serve")

    def mode(self, mode: str, stderr: str = "") -> None:
        (self.bin / "mode").write_text(mode)
        (self.bin / "stderr").write_text(stderr)

    def argv(self) -> list[str]:
        return (self.bin / "argv").read_text().splitlines()

    def env(self) -> dict[str, str]:
        return dict(ln.split("=", 1) for ln in (self.bin / "env").read_text().splitlines() if "=" in ln)

    def field(self, name: str) -> int:
        return int((self.bin / name).read_text())


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSsh:
    fake = FakeSsh(tmp_path / "fakessh")
    monkeypatch.setenv("PATH", f"{fake.bin}:{os.environ['PATH']}")
    return fake


_FAKE_URL = "git@example.invalid:org/app.git"


def test_ssh_gets_our_key_pinned_hosts_and_agent_and_nothing_of_the_callers(fake_ssh: FakeSsh, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "callers-agent.sock"))  # never handed on
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -o StrictHostKeyChecking=no")
    key = tmp_path / "my keys" / "id_ed25519"  # a space: the command is quoted for git's shell
    o = clone.SshOptions(key=key, known_hosts=tmp_path / "kh", batch=True, agent_sock=tmp_path / "ours.sock",
                         connect_timeout=7)
    dest = tmp_path / "out" / "app"
    clone.run_clone(clone.parse_url(_FAKE_URL), dest, o, branch=None, depth=None, progress=False)
    assert (dest / "README.md").read_text() == "served\n"
    argv = fake_ssh.argv()
    assert argv[:2] == ["-i", str(key)]
    opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert {"IdentitiesOnly=yes", "StrictHostKeyChecking=yes", f"UserKnownHostsFile={tmp_path / 'kh'}",
            "UpdateHostKeys=no", "ConnectTimeout=7", "BatchMode=yes"} <= set(opts)
    assert "StrictHostKeyChecking=no" not in opts
    alive = dict(x.split("=", 1) for x in opts if x.startswith("ServerAlive"))
    assert 30 <= int(alive["ServerAliveInterval"]) * int(alive["ServerAliveCountMax"]) <= 120  # about a minute
    assert argv[-2:] == ["git@example.invalid", "git-upload-pack 'org/app.git'"]
    env = fake_ssh.env()
    assert env["SSH_AUTH_SOCK"] == str(tmp_path / "ours.sock")
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert fake_ssh.field("sid") != os.getsid(0)  # quiet: a session of its own, no terminal to ask on


def test_progress_mode_shows_gits_and_sshs_output_and_keeps_the_terminal(fake_ssh: FakeSsh, tmp_path: Path,
                                                                          capfd: pytest.CaptureFixture[str]) -> None:
    o = _options(tmp_path, tmp_path / "k")
    clone.run_clone(clone.parse_url(_FAKE_URL), tmp_path / "loud", o, branch=None, depth=None, progress=True)
    err = capfd.readouterr().err
    assert "Cloning into" in err and "fake ssh: serving" in err
    assert fake_ssh.field("sid") == os.getsid(0)  # same session: ssh may ask at the user's terminal
    assert git("rev-list", "--count", "HEAD", cwd=tmp_path / "loud").strip() == "2"  # no --depth: all of it
    clone.run_clone(clone.parse_url(_FAKE_URL), tmp_path / "quiet", o, branch=None, depth=1, progress=False)
    err = capfd.readouterr().err
    assert "Cloning into" not in err and "fake ssh" not in err  # captured, for the error message only
    assert (tmp_path / "quiet" / "README.md").read_text() == "served\n"
    assert git("rev-list", "--count", "HEAD", cwd=tmp_path / "quiet").strip() == "1"  # --depth 1 reached git


@pytest.mark.parametrize(("words", "kind", "code"), [
    ("ssh: connect to host example.invalid port 22: Connection refused", NetworkError, 4),
    ("git@example.invalid: Permission denied (publickey).", GitError, 6),
])
@pytest.mark.parametrize("existed", [False, True], ids=["fresh", "empty-folder-existed"])
def test_a_failed_connection_is_reported_in_ssh_words_and_leaves_what_was_there(
        fake_ssh: FakeSsh, tmp_path: Path, words: str, kind: type[Exception], code: int, existed: bool) -> None:
    fake_ssh.mode("fail", words + "\n")
    dest = tmp_path / "new" / "deeper" / "app"
    if existed:
        dest.mkdir(parents=True)
    with pytest.raises(kind) as info:
        clone.run_clone(clone.parse_url(_FAKE_URL), dest, _options(tmp_path, tmp_path / "k"), branch=None,
                        depth=None, progress=False)
    assert info.value.exit_code == code  # type: ignore[attr-defined]
    assert str(info.value).startswith("git clone failed (exit 128):") and words in str(info.value)
    if existed:
        assert dest.is_dir() and list(dest.iterdir()) == []
    else:
        assert not (tmp_path / "new").exists()  # the folders made for it go too


def test_a_git_killed_mid_clone_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git that cannot clean up after itself (killed by the OOM killer, say): its half clone goes."""
    bindir = tmp_path / "gitbin"
    bindir.mkdir()
    (bindir / "git").write_text('#!/bin/sh\nfor last; do :; done\nmkdir -p "$last/.git"\n'
                                'echo half > "$last/.git/HEAD"\nkill -KILL $$\n')
    (bindir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    dest = tmp_path / "new" / "app"
    with pytest.raises(GitError, match=r"exit -9"):
        clone.run_clone(clone.parse_url(_FAKE_URL), dest, _options(tmp_path, tmp_path / "k"), branch=None,
                        depth=None, progress=False)
    assert not (tmp_path / "new").exists()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_an_interrupt_kills_ssh_as_well_and_removes_the_new_folders(fake_ssh: FakeSsh, tmp_path: Path) -> None:
    """Ctrl-C (quiet mode: git and ssh are in a group of their own) ends ssh too, not only git."""
    fake_ssh.mode("hang")
    dest = tmp_path / "new" / "app"
    pidfile = fake_ssh.bin / "pid"
    main = threading.main_thread().ident
    assert main is not None

    stop = threading.Event()

    def press_ctrl_c() -> None:  # a real SIGINT to the main thread, once ssh runs: it ends the wait at once
        while not stop.is_set():
            if pidfile.exists() and pidfile.read_text():
                signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0.01)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    try:
        with pytest.raises(KeyboardInterrupt):
            presser.start()
            try:
                clone.run_clone(clone.parse_url(_FAKE_URL), dest, _options(tmp_path, tmp_path / "k"), branch=None,
                                depth=None, progress=False)
            finally:
                stop.set()
                presser.join()
        pid = fake_ssh.field("pid")
        deadline = time.monotonic() + 5
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), "ssh outlived the interrupted clone"
        assert not (tmp_path / "new").exists()
    finally:
        if pidfile.exists() and pidfile.read_text() and not _gone(fake_ssh.field("pid")):
            os.kill(fake_ssh.field("pid"), signal.SIGKILL)


def test_cleanup_of_a_clone_git_already_removed_and_of_parents_in_use(tmp_path: Path) -> None:
    clone.remove_created(tmp_path / "never-made", created=True)  # git cleaned up itself: nothing to do, no error
    top = tmp_path / "top"
    deep = top / "mid" / "app"
    made = clone.make_parents(deep)
    assert made == [deep, top / "mid", top]  # deepest first
    (top / "other-clone").mkdir()  # a concurrent clone put its folder into a parent made for us
    clone.remove_created(deep / "repo", created=True, parents=made)
    assert not (top / "mid").exists()
    assert (top / "other-clone").is_dir()  # the shared parent stays


def test_make_parents_accepts_a_parent_made_meanwhile_but_not_a_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real_mkdir = Path.mkdir

    def raced(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self)  # a concurrent clone of this run made it a moment ago
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", raced)
    assert clone.make_parents(tmp_path / "a" / "b") == [tmp_path / "a" / "b", tmp_path / "a"]
    assert (tmp_path / "a" / "b").is_dir()

    def squatted(self: Path, *args: object, **kwargs: object) -> None:
        self.write_text("not a folder")
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", squatted)
    with pytest.raises(FileExistsError):
        clone.make_parents(tmp_path / "c")


def test_a_config_that_blocks_git_is_given_up_at_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO as .git/config blocks git's read forever: the check gives up and calls it no clone of ours."""
    import os
    import time

    from onboarding import clone

    dest = tmp_path / "repo"
    (dest / ".git").mkdir(parents=True)
    os.mkfifo(dest / ".git" / "config")
    monkeypatch.setattr(clone, "CONFIG_TIMEOUT", 1.0)
    started = time.monotonic()
    assert clone.existing_clone_url(dest) is None
    assert time.monotonic() - started < 15
