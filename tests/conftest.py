"""Shared fixtures: a private HOME per test, pinned git, a real sshd on 127.0.0.1, helpers."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or next(
    (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.path.exists(p)), None
)
_SCRUB_PREFIXES = ("ONBOARD_", "AZUREML_GIT_", "GIT_", "SSH_")
_SCRUB = {"CI_NAME", "CI_LOCAL_UBUNTU_USER", "NO_COLOR", "GH_TOKEN", "GITHUB_TOKEN"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """@pytest.mark.sshd: skip without sshd, except where it is required (CI), where that fails."""
    if item.get_closest_marker("sshd") and SSHD is None:
        if os.environ.get("ONBOARD_REQUIRE_SSHD") == "1":
            pytest.fail("sshd is required (ONBOARD_REQUIRE_SSHD=1) but not installed")
        pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)")


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


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def onboard(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> Result:
    """Run the real CLI in a subprocess (no terminal: stdin is a pipe or /dev/null)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        [sys.executable, "-m", "onboarding", *args],
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", str(path))
    for name, text in (files or {"README.md": "hello\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "first", cwd=path)
    return path


def make_bare(path: Path, files: dict[str, str] | None = None) -> Path:
    work = make_repo(path.with_name(path.name + ".work"), files)
    git("clone", "-q", "--bare", str(work), str(path))
    shutil.rmtree(work)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    """A real OpenSSH sshd on 127.0.0.1 with its own three host keys and authorized_keys."""

    root: Path
    port: int
    user: str
    host_keys: dict[str, Path] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def authorized_keys(self) -> Path:
        return self.root / "authorized_keys"

    def authorize(self, public_key_file: Path) -> None:
        self.authorized_keys.write_text(public_key_file.read_text())

    def public_key(self, kind: str) -> str:
        """'type base64' of the server's host key of that kind (ed25519, ecdsa, rsa)."""
        return " ".join(Path(str(self.host_keys[kind]) + ".pub").read_text().split()[:2])

    def url(self, repo: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.root / 'repos' / repo}"

    def providers_toml(self, name: str = "local", kinds: tuple[str, ...] = ("ed25519", "ecdsa", "rsa"),
                       extra: str = "") -> str:
        keys = ", ".join(f'"{self.public_key(k)}"' for k in kinds)
        return (f'[providers.{name}]\nhosts = ["[127.0.0.1]:{self.port}"]\n'
                f'user = "{self.user}"\nkeys = [{keys}]\n{extra}')


def start_sshd(root: Path, listen: tuple[str, ...] = ("127.0.0.1",),
               kinds: tuple[str, ...] = ("ed25519", "ecdsa", "rsa"), extra: tuple[str, ...] = ()) -> Sshd:
    assert SSHD
    user = pwd.getpwuid(os.getuid()).pw_name
    server = Sshd(root=root, port=free_port(), user=user)
    for kind in kinds:
        key = root / f"ssh_host_{kind}_key"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
        server.host_keys[kind] = key
    server.authorized_keys.write_text("")
    (root / "repos").mkdir()
    config = root / "sshd_config"
    config.write_text("\n".join([
        *extra,  # first: sshd keeps the first value it reads for each keyword
        f"Port {server.port}",
        *(f"ListenAddress {a}" for a in listen),
        *(f"HostKey {k}" for k in server.host_keys.values()),
        f"PidFile {root / 'sshd.pid'}",
        f"AuthorizedKeysFile {server.authorized_keys}",
        "StrictModes no",  # the temp dirs are not laid out as a real home would be
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {user}",
        "LogLevel ERROR",
        "MaxStartups 100",  # the benchmark probes four "providers" that are all this one sshd
        "",
    ]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    log = (root / "sshd.log").open("wb")
    server.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return server
        except OSError:
            if server.proc.poll() is not None:
                break
            time.sleep(0.05)
    server.proc.kill()
    raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text()}")


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


def as_user(entry: pwd.struct_passwd, *args: str, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
    """Run onboard as that account (setpriv drops root for real)."""
    # PYTHONPATH: the package as this checkout has it, whatever the install mode.
    repo = str(Path(__file__).resolve().parent.parent)
    full_env = {**os.environ, "HOME": entry.pw_dir, "PYTHONPATH": repo, **(env or {})}
    proc = subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
         sys.executable, "-m", "onboarding", *args],
        input=input.encode() if input is not None else None,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True, env=full_env, timeout=120, cwd="/",
    )
    return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
