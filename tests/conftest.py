"""Shared fixtures: a private HOME per test, pinned git, a real sshd on 127.0.0.1, a throwaway account."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fixtures only: the helpers themselves live in tests/helpers/ (test files import them from there).
from helpers.attacker import Account, as_user, create_account, delete_account, root_safe_dir
from helpers.fake_apis import FakeApis, serve
from helpers.gitrepo import make_bare
from helpers.sshd import SSHD, Sshd, start_sshd

_SCRUB_PREFIXES = ("ONBOARD_", "AZUREML_GIT_", "GIT_", "SSH_")
_SCRUB = {"CI_NAME", "CI_LOCAL_UBUNTU_USER", "NO_COLOR", "GH_TOKEN", "GITHUB_TOKEN"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """@pytest.mark.sshd: skip without sshd; @pytest.mark.root: skip when another account cannot run
    this Python and this checkout. Where they are required (CI), such a skip is a failure."""
    if item.get_closest_marker("sshd") and SSHD is None:
        if os.environ.get("ONBOARD_REQUIRE_SSHD") == "1":
            pytest.fail("sshd is required (ONBOARD_REQUIRE_SSHD=1) but not installed")
        pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)")
    plays_an_account = item.get_closest_marker("root") or "other_user" in getattr(item, "fixturenames", ())
    if plays_an_account and os.geteuid() == 0:
        problem = _account_cannot_run()
        if problem:
            if os.environ.get("ONBOARD_REQUIRE_ACCOUNTS") == "1":
                pytest.fail(f"tests that play a real account are required (ONBOARD_REQUIRE_ACCOUNTS=1): {problem}")
            pytest.skip(problem)


_ACCOUNT_CHECK: list[str] = []


def _account_cannot_run() -> str:
    """Why an unprivileged account cannot run onboard from this checkout with this Python ("" if it can).

    Those tests run the account's side with this interpreter (sys.executable) and this checkout: a
    Python under /root (pyenv's, mode 0700) or a checkout there is out of its reach, and every such
    test would fail with "unexpected ModuleNotFoundError". scripts/test chooses /usr/bin/python3 and
    a readable copy of the checkout in that case (README.md)."""
    if not _ACCOUNT_CHECK:
        repo = str(Path(__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {repo!r}); import onboarding.cli, paramiko, cryptography"
        try:
            done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                                   "-I", "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
            err = done.stderr.strip().splitlines()[-1:] if done.returncode else []
        except (OSError, subprocess.TimeoutExpired) as exc:
            err = [str(exc)]
        _ACCOUNT_CHECK.append(f"another account cannot run {sys.executable} with the checkout {repo} "
                              f"({err[0] if err else 'no reason given'}); run the tests with scripts/test, which "
                              "picks a Python and a place every account can read" if err else "")
    return _ACCOUNT_CHECK[0]


def _snapshot(directory: Path) -> dict[str, tuple[int, int, int]] | None:
    if not directory.exists():
        return None
    out = {}
    for entry in directory.rglob("*"):
        try:
            st = entry.lstat()
        except OSError:
            continue
        out[str(entry)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME is a temp dir in every test; fail any test that changed the real ~/.ssh."""
    real_ssh = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh"
    before = _snapshot(real_ssh)
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES) or name in _SCRUB:
            monkeypatch.delenv(name)
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    # Pinned git, as pre-commit's testing/fixtures.py: no user or system config leaks in.
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    (h / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    yield h
    assert _snapshot(real_ssh) == before, f"the test changed the real {real_ssh}"


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if SSHD is None:
        if os.environ.get("ONBOARD_REQUIRE_SSHD") == "1":
            pytest.fail("sshd is required (ONBOARD_REQUIRE_SSHD=1) but not installed")
        pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    assert server.proc
    server.proc.terminate()
    server.proc.wait(timeout=10)


@pytest.fixture
def sshd(sshd_server: Sshd) -> Iterator[Sshd]:
    """The session's sshd, with authorized_keys emptied for each test."""
    sshd_server.authorized_keys.write_text("")
    yield sshd_server


@pytest.fixture
def bare_repo(sshd: Sshd) -> str:
    """A fresh bare repository served by the sshd; returns its name under repos/."""
    name = f"app{time.monotonic_ns()}.git"
    make_bare(sshd.root / "repos" / name, {"README.md": "hello\n", "src/main.py": "print(1)\n"})
    return name


@pytest.fixture
def other_user() -> Iterator[pwd.struct_passwd]:
    """A throwaway unprivileged account with its own home (needs root: CI runs as root)."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to create a throwaway account")
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="onboard-user-"))
    base.chmod(0o755)
    name = f"onbt{os.getpid() % 100000}{time.monotonic_ns() % 1000}"
    home = base / name
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    entry = pwd.getpwnam(name)
    home.mkdir(mode=0o755)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        yield entry
    finally:
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    """The fake provider APIs (GitHub, GitLab, Bitbucket, Gitea) on 127.0.0.1."""
    with serve() as fake:
        yield fake


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A root-owned 0755 folder outside any home, which a throwaway account can traverse: where the
    "installed" onboard (a venv that account must run) and the system team file live."""
    base = Path(tempfile.mkdtemp(prefix="onboard-shared-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- a real unprivileged account for the --user attacker suites (test_privilege_redteam, _round3,
# test_userside): one per module, its home emptied for each test; root's inputs in a root-only folder.
@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    base = Path(tempfile.mkdtemp(prefix="onboard-homes-"))
    base.chmod(0o755)
    acct = create_account(base)
    try:
        yield acct
    finally:
        delete_account(acct)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def user(account: Account) -> Account:
    """The module's account with an empty home of its own."""
    for entry in account.home.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    as_user(account, "mkdir -m 700 .ssh")
    return account


@pytest.fixture
def vault() -> Iterator[Path]:
    """A root-owned folder no other account can change: where root's inputs and decoys live."""
    d = root_safe_dir("onboard-vault-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
