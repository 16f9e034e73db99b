"""Hostile input, faults and properties: never a traceback, never a partial file."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.run import onboard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboarding import clone, known_hosts, providers, sshconfig
from onboarding import settings as settings_mod
from onboarding.errors import OnboardError, UsageError

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PIN = known_hosts.Pin("pinned.invalid", ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",),
                      exclusive=True)

# -- properties of the parsers ------------------------------------------------------------
url_parts = st.sampled_from(["git@", "ssh://", "-", "ext::", "file://", "https://", "git+ssh://", "../", "/", "",
                             "org@", "[", "::", ":", "@"])
url_text = st.one_of(
    st.text(max_size=80),
    st.builds(lambda a, b, c, d: a + b + c + d, url_parts, st.text(max_size=20), url_parts, st.text(max_size=20)),
)


@FAST
@given(url_text)
def test_url_parser_accepts_only_safe_ssh_urls(text: str) -> None:
    try:
        u = clone.parse_url(text)
    except UsageError as exc:
        assert exc.message  # a reason, never a traceback
        return
    assert not u.text.startswith("-") and not clone._HELPER.match(u.text)
    assert clone._HOST.match(u.host) and not u.host.startswith("-")
    assert clone._NAME.match(u.name) and u.name not in (".", "..")
    assert u.text.startswith(("ssh://", "git+ssh://", "ssh+git://")) or ":" in u.text
    assert not u.text.lower().startswith(("ext::", "file:", "http", "fd::", "/", "."))
    assert 0 < u.port < 65536


host_name = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)
key_b64 = st.binary(min_size=1, max_size=60).map(lambda b: __import__("base64").b64encode(b).decode())
line_bytes = st.one_of(
    st.builds(lambda t: b"# " + t.encode("utf-8", "surrogatepass") + b"\n", st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t)),
    st.just(b"\n"),
    st.builds(lambda h, k: f"{h} ssh-ed25519 {k}\n".encode(), st.lists(host_name, min_size=1, max_size=3).map(",".join), key_b64),
    st.builds(lambda h, k: f"[{h}]:2222 ecdsa-sha2-nistp256 {k} comment\n".encode(), host_name, key_b64),
    st.builds(lambda h, k: f"{known_hosts.hash_name(h)} ssh-rsa {k}\n".encode(), host_name, key_b64),
    st.builds(lambda m, h, k: f"{m} {h} ssh-ed25519 {k}\n".encode(), st.sampled_from(["@revoked", "@cert-authority"]),
              host_name, key_b64),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b).map(lambda b: b + b"\n"),
)


@FAST
@given(st.lists(line_bytes, max_size=12), st.booleans(), st.booleans())
def test_known_hosts_merge_keeps_every_unrelated_byte(lines: list[bytes], drop_last_newline: bool,
                                                      hashed: bool) -> None:
    data = b"".join(lines)
    if drop_last_newline and data.endswith(b"\n"):
        data = data[:-1]
    result = known_hosts.merge(data, [PIN], (), hashed=hashed)
    prefix = data + (b"\n" if data and not data.endswith(b"\n") else b"")
    assert result.data.startswith(prefix)
    added = result.data[len(prefix):].splitlines()
    assert len(added) == 1 and added[0].endswith(PIN.keys[0].encode())
    again = known_hosts.merge(result.data, [PIN], (), hashed=hashed)
    assert again.data == result.data and not again.changed


@FAST
@given(st.binary(max_size=300))
def test_known_hosts_parser_never_raises(data: bytes) -> None:
    lines = known_hosts.parse(data)
    assert b"".join(line.raw for line in lines) == data
    for line in lines:
        line.fingerprint  # noqa: B018 - must not raise on garbage base64


config_text = st.binary(max_size=200).filter(lambda b: sshconfig.BEGIN not in b and sshconfig.END not in b)


@FAST
@given(config_text, st.lists(host_name, min_size=1, max_size=3))
def test_ssh_config_block_keeps_everything_else_and_is_idempotent(data: bytes, hosts: list[str]) -> None:
    home = Path("/home/u")
    key = str(home / "keys" / "k")
    once = sshconfig.merge(data, "p", hosts, key=key)
    before, block, after = sshconfig.split(once)
    assert block is not None and after == b""  # appended: nothing of the user's is after it
    assert before[: len(data)] == data
    assert sshconfig.merge(once, "p", hosts, key=key) == once
    assert sshconfig.merge(once, "p", hosts[:1], key=key) == once  # hosts accumulate
    assert sshconfig.merge(once, "p", hosts, key=None) in (data, data + b"\n")  # nothing left: the file as it was


toml_scalar = st.one_of(st.text(max_size=20), st.integers(-5, 70000), st.booleans(),
                        st.lists(st.text(max_size=10), max_size=3))
setup_keys = st.sampled_from(["email", "key_type", "bits", "kdf_rounds", "providers", "repos", "target", "timeout",
                              "hash", "offline", "depth", "emial", "passphrase_stdin", "json", "unknown-key", "repo"])


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic strings
    return str(v)


@FAST
@given(st.dictionaries(setup_keys, toml_scalar, max_size=5))
def test_team_file_gives_settings_or_a_usage_error(tmp_path: Path, table: dict[str, object]) -> None:
    f = tmp_path / "team.toml"
    f.write_text("[setup]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()))
    try:
        s = settings_mod.build({"config": f}, environ={})
    except UsageError as exc:
        assert str(f) in exc.message or "--" in exc.message or "comment" in exc.message
        return
    assert isinstance(s, settings_mod.Settings)


provider_field = st.sampled_from(["hosts", "keys", "fingerprints", "revoked", "port", "user", "title", "colour"])


@FAST
@given(st.dictionaries(provider_field, toml_scalar, max_size=5))
def test_providers_table_gives_a_provider_or_a_usage_error(table: dict[str, object]) -> None:
    try:
        p = providers.parse_provider("internal", table, "extra.toml")
    except UsageError as exc:
        assert "extra.toml" in exc.message
        return
    assert p.hosts and (p.keys or p.fingerprints)


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_garbage_team_file_is_exit_2_not_a_traceback(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".toml") as f:
        f.write(data)
        f.flush()
        r = onboard("keygen", "-y", "--no-passphrase", "--config", f.name, "--key-file", "/nonexistent/dir/k")
    assert "Traceback" not in r.output
    assert r.returncode in (0, 1, 2, 5), r.output


# -- hostile inputs ---------------------------------------------------------------------------
def test_option_injection_in_dest(tmp_path: Path) -> None:
    r = onboard("clone", "git@github.com:org/app.git", "-y", "--offline", "--dest=-rf")
    assert r.returncode == 2 and "starting with '-'" in r.stderr


def test_branch_injection_is_refused(tmp_path: Path) -> None:
    from onboarding.clone import git_clone_argv, parse_url

    with pytest.raises(UsageError):
        git_clone_argv(parse_url("git@github.com:o/a.git"), tmp_path / "a", branch="--upload-pack=touch", depth=None,
                       progress=False)


@pytest.mark.parametrize(("email", "reason"), [
    ("a\nb@example.com", "one line"),
    ("x" * 300, "at most 256"),
    ("ok\x7f", "one line"),
])
def test_email_values_that_would_break_the_pub_line(home: Path, email: str, reason: str) -> None:
    r = onboard("keygen", "-y", "--no-passphrase", "--email", email)
    assert r.returncode == 2 and reason in r.stderr
    assert not (home / ".ssh").exists()


def test_non_utf8_argument(home: Path) -> None:
    proc = subprocess.run([sys.executable.encode(), b"-m", b"onboarding", b"keygen", b"-y", b"--no-passphrase",
                           b"--email", b"caf\xe9@example.com"], capture_output=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and b"UTF-8" in proc.stderr and b"Traceback" not in proc.stderr
    assert not (home / ".ssh").exists()


def test_key_path_that_is_a_directory(home: Path) -> None:
    (home / ".ssh" / "id_ed25519").mkdir(parents=True)
    (home / ".ssh").chmod(0o700)
    r = onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519")
    assert r.returncode == 5 and "not a regular file" in r.stderr


def test_dangling_symlink_at_key_path(home: Path, tmp_path: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "id_ed25519").symlink_to(tmp_path / "does-not-exist")
    r = onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519")
    assert r.returncode == 5 and "symbolic link" in r.stderr
    assert not (tmp_path / "does-not-exist").exists()


def test_ssh_dir_owned_by_another_user(other_user) -> None:  # type: ignore[no-untyped-def]
    from helpers.run import as_user

    ssh = Path(other_user.pw_dir) / ".ssh"
    ssh.mkdir(mode=0o755)  # owned by root, as after a careless `sudo mkdir`
    r = as_user(other_user, "keygen", "-y", "--no-passphrase", "--key-type", "ed25519")
    assert r.returncode == 5, r.output
    assert "owned by uid 0" in r.stderr and "chown" in r.stderr
    assert list(ssh.iterdir()) == []


def test_known_hosts_with_a_100kb_line(home: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    big = b"huge.example ssh-ed25519 " + b"A" * 100_000 + b"\n"
    (ssh / "known_hosts").write_bytes(big)
    r = onboard("hosts", "verify", "gitlab", "--offline", "--no-hash")
    assert r.returncode == 0, r.output
    assert (ssh / "known_hosts").read_bytes().startswith(big)


def test_very_long_and_odd_repository_names() -> None:
    with pytest.raises(UsageError):
        clone.parse_url("git@github.com:org/" + "a" * 5000 + "\x00.git")
    u = clone.parse_url("git@github.com:org/" + "a" * 200 + ".git")
    assert u.name == "a" * 200


# -- faults: kill at each write -------------------------------------------------------------------
KILLER = """
import os, signal, sys
from onboarding import fsutil
point = os.environ["KILL_POINT"]
real_write, real_replace, real_link = os.write, os.replace, os.link
def write(fd, data):
    if point == "write":
        real_write(fd, bytes(data)[: max(1, len(data) // 2)])
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)
def replace(a, b, **kw):
    if point == "rename":
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(a, b, **kw)
def link(a, b, **kw):
    if point == "rename" and ".onboard-" in str(a):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_link(a, b, **kw)
fsutil.os.write, fsutil.os.replace, fsutil.os.link = write, replace, link
from onboarding.cli import main
sys.exit(main(sys.argv[1:]))
"""


def killed_run(point: str, *args: str) -> int:
    proc = subprocess.run([sys.executable, "-c", KILLER, *args], env={**os.environ, "KILL_POINT": point},
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    return proc.returncode


def no_partial(path: Path, old: bytes | None, is_complete: object) -> None:
    if not path.exists():
        assert old is None
        return
    data = path.read_bytes()
    assert data == old or is_complete(data), data[:80]  # type: ignore[operator]


@pytest.mark.parametrize("point", ["write", "rename"])
def test_sigkill_during_key_writes_leaves_old_or_complete(home: Path, point: str) -> None:
    key = home / ".ssh" / "id_ed25519"
    assert killed_run(point, "keygen", "-y", "--no-passphrase", "--key-type", "ed25519") == -signal.SIGKILL
    assert not key.exists()  # the first write (the key) was killed: no key, and no partial key
    # with an old pair and --force: each file is either the old one or a complete new one
    assert onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").returncode == 0
    old_key, old_pub = key.read_bytes(), Path(str(key) + ".pub").read_bytes()
    assert killed_run(point, "keygen", "-y", "--no-passphrase", "--key-type", "ed25519", "--force") == -signal.SIGKILL
    no_partial(key, old_key, lambda d: d.endswith(b"-----END OPENSSH PRIVATE KEY-----\n"))
    no_partial(Path(str(key) + ".pub"), old_pub, lambda d: d.startswith(b"ssh-ed25519 ") and d.endswith(b"\n"))
    assert key.read_bytes() == old_key  # the key is the first file replaced, so it is still the old one


@pytest.mark.parametrize("point", ["write", "rename"])
def test_sigkill_during_known_hosts_and_config_writes(home: Path, tmp_path: Path, point: str) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    kh, config = ssh / "known_hosts", ssh / "config"
    kh.write_bytes(b"# old known_hosts\n")
    config.write_bytes(b"Host *\n  ServerAliveInterval 30\n")
    assert killed_run(point, "hosts", "verify", "github", "--offline") == -signal.SIGKILL
    assert kh.read_bytes() == b"# old known_hosts\n"
    from onboarding.sshconfig import update

    code = ("import os, signal, sys; from pathlib import Path\n" + KILLER.split("from onboarding.cli")[0] +
            "update(Path(sys.argv[1]), 'github', ['github.com'], None, key=sys.argv[2])\n")
    code = code.replace("from onboarding import fsutil", "from onboarding import fsutil\nfrom onboarding.sshconfig import update")
    proc = subprocess.run([sys.executable, "-c", code, str(config), str(tmp_path / "k"), str(home)],
                          env={**os.environ, "KILL_POINT": point}, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert config.read_bytes() == b"Host *\n  ServerAliveInterval 30\n"
    assert update  # the same function the CLI uses


def test_full_disk_keeps_old_files_and_says_so(home: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    old = b"# mine\n" * 10
    (ssh / "known_hosts").write_bytes(old)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    proc = subprocess.run([sys.executable, "-m", "onboarding", "hosts", "verify", "--offline", "--no-hash"],
                          capture_output=True, text=True, preexec_fn=limit, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write" in proc.stderr and "nothing was changed" in proc.stderr
    assert (ssh / "known_hosts").read_bytes() == old
    assert sorted(p.name for p in ssh.iterdir()) == ["known_hosts"]  # the partial temp file is gone


@pytest.fixture
def drop_after_banner() -> Iterator[int]:
    """A server that says the SSH banner, then drops the connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.recv(100)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


def test_network_dropping_mid_probe_is_exit_4(drop_after_banner: int, tmp_path: Path) -> None:
    pins = tmp_path / "p.toml"
    pins.write_text(f'[providers.flaky]\nhosts = ["[127.0.0.1]:{drop_after_banner}"]\n'
                    'fingerprints = ["SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"]\n')
    start = time.monotonic()
    r = onboard("hosts", "verify", "flaky", "--providers-file", str(pins), "--known-hosts", str(tmp_path / "kh"),
                "--timeout", "3")
    assert r.returncode == 4, r.output
    assert time.monotonic() - start < 3 + 3
    assert not (tmp_path / "kh").exists()


def test_every_error_is_an_onboard_error_subclass() -> None:
    from onboarding import errors

    for name in ("UsageError", "HostKeyError", "NetworkError", "ConflictError", "GitError"):
        assert issubclass(getattr(errors, name), OnboardError)
