"""hosts verify against a real sshd; known_hosts merged byte for byte; MITM refused."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.run import onboard
from helpers.sshd import Sshd, free_port

from onboarding.keys import fingerprint_of_line

OLD_GITHUB_RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEAq2A7hRGmdnm9tUDbO9IDSwBK6TbQa+PXYPCPy6rbTrTtw7PHkccKrpp0yVhp5HdEIcKr6pLlVDBfOLX9"
    "QUsyCOV0wzfjIJNlGEYsdlLJizHhbn2mUjvSAHQqZETYP81eFzLQNnPHt4EVVUh7VfDESU84KezmD5QlWpXLmvU31/yMf+Se8xhHTvKSCZIFImWwoG6m"
    "bUoWf9nzpIoaSjB+weqqUUmpaaasXVal72J+UX2B+2RPW3RcT0eOzQgqlJL3RKrTJvdsjE3JEAvGq3lGHSZXy28G3skua2SmVi/w4yCE6gbODqnTWlg7"
    "+wC604ydGXA8VJiS5ap43JXiUFFAaQ=="
)
GITHUB_CURRENT = {
    "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
    "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
    "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
}
# Every kind of line a real known_hosts has; none of them is about the sshd under test.
PRESERVED = (
    b"# a comment the user wrote\n"
    b"\n"
    b"example.org,192.0.2.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIazEu89wgQZ4bqs3d63QSMzYVa0MuJ2e2gKTKqu+UUO\n"
    b"[git.example.org]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPIQmuzMBuKdWeF4+"
    b"a2sjSSpBK0iqitSQ+5BM9KhpexuGt20JpTVM7u5BDZngncgrqDMbWdxMWWOGtZ9UgbqgZE=\n"
    b"|1|JfKTdBh7rNbXkVAQCRp4OQoPfmI=|USECr3SWf1JUPsms5AqfD5QfxkM= ssh-ed25519 "
    b"AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf\n"
    b"@cert-authority *.corp.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    b"@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIVIC02vnjFyL+I4RHfvIGNtOgJMe769VTF1VR4EB3ZB\n"
    b"this line is garbage\n"
    b"caf\xe9.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf   trailing comment\n"
    b"no-newline-at-end.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf"
)


def pins(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "pins.toml"
    f.write_text(text)
    return f


def ssh_reaches_auth(sshd: Sshd, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    """Real ssh with strict host key checking; success = it got past the host key to auth."""
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null",
         "-p", str(sshd.port), f"{sshd.user}@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )


@pytest.mark.sshd
def test_right_pins_write_known_hosts_that_real_ssh_accepts(sshd: Sshd, tmp_path: Path, home: Path) -> None:
    kh = tmp_path / "known_hosts"
    r = onboard("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, sshd.providers_toml())),
                "--known-hosts", str(kh), "--no-hash", "--json")
    assert r.returncode == 0, r.output
    assert len(json.loads(r.stdout)["added"]) == 3
    before = ssh_reaches_auth(sshd, tmp_path / "empty")
    assert "Host key verification failed" in before.stderr  # the check is real
    after = ssh_reaches_auth(sshd, kh)
    assert "Host key verification failed" not in after.stderr
    assert "Permission denied" in after.stderr  # got as far as authentication


@pytest.mark.sshd
def test_wrong_pins_exit_3_and_leave_known_hosts_untouched(sshd: Sshd, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_bytes(PRESERVED)
    wrong = ("[providers.local]\n"
             f'hosts = ["[127.0.0.1]:{sshd.port}"]\n'
             'keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]\n'
             'docs_url = "https://example.test/fingerprints"\n')
    r = onboard("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, wrong)), "--known-hosts", str(kh))
    assert r.returncode == 3, r.output
    live = fingerprint_of_line(sshd.public_key("ed25519"))
    assert "expected SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU" in r.stderr and live in r.stderr
    assert "man-in-the-middle" in r.stderr and "https://example.test/fingerprints" in r.stderr
    assert kh.read_bytes() == PRESERVED


@pytest.mark.sshd
def test_live_key_in_revoked_fails(sshd: Sshd, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    revoked = fingerprint_of_line(sshd.public_key("ecdsa"))
    text = sshd.providers_toml(kinds=("ed25519", "rsa"), extra=f'revoked = ["{revoked}"]\n')
    r = onboard("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, text)), "--known-hosts", str(kh))
    assert r.returncode == 3, r.output
    assert "REVOKED" in r.stderr and revoked in r.stderr
    assert not kh.exists()


@pytest.mark.sshd
def test_pins_for_one_type_only(sshd: Sshd, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    r = onboard("hosts", "verify", "local", "--providers-file",
                str(pins(tmp_path, sshd.providers_toml(kinds=("ed25519",)))), "--known-hosts", str(kh), "--no-hash")
    assert r.returncode == 0, r.output
    lines = kh.read_text().splitlines()
    assert [ln.split()[1] for ln in lines] == ["ssh-ed25519"]
    assert "Host key verification failed" not in ssh_reaches_auth(sshd, kh).stderr


@pytest.mark.sshd
def test_fingerprints_only_writes_the_matching_live_key(sshd: Sshd, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    fp = fingerprint_of_line(sshd.public_key("rsa"))
    text = f'[providers.local]\nhosts = ["[127.0.0.1]:{sshd.port}"]\nfingerprints = ["{fp}"]\n'
    r = onboard("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, text)),
                "--known-hosts", str(kh), "--no-hash")
    assert r.returncode == 0, r.output
    assert kh.read_text() == f"[127.0.0.1]:{sshd.port} {sshd.public_key('rsa')}\n"
    r = onboard("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, text)), "--known-hosts",
                str(kh), "--offline")
    assert r.returncode == 2 and "fingerprints only" in r.stderr


@pytest.mark.sshd
def test_preserves_every_line_and_rerun_adds_nothing(sshd: Sshd, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_bytes(PRESERVED)
    kh.chmod(0o600)
    args = ("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, sshd.providers_toml())),
            "--known-hosts", str(kh), "--hash")
    assert onboard(*args).returncode == 0
    data = kh.read_bytes()
    assert data.startswith(PRESERVED + b"\n")
    assert stat.S_IMODE(kh.stat().st_mode) == 0o600
    found = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{sshd.port}", "-f", str(kh)],
                           capture_output=True, text=True)
    hits = [ln for ln in found.stdout.splitlines() if "found: line" in ln and "REVOKED" not in ln]
    assert found.returncode == 0 and len(hits) == 3  # the three hashed lines we added
    r = onboard(*args)
    assert r.returncode == 0 and "already trusts" in r.stderr
    assert kh.read_bytes() == data


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts and then never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_silent_server_is_exit_4_within_the_timeout(silent_listener: int, tmp_path: Path) -> None:
    text = f'[providers.mute]\nhosts = ["[127.0.0.1]:{silent_listener}"]\nfingerprints = ["{next(iter(GITHUB_CURRENT))}"]\n'
    start = time.monotonic()
    r = onboard("hosts", "verify", "mute", "--providers-file", str(pins(tmp_path, text)),
                "--known-hosts", str(tmp_path / "kh"), "--timeout", "1.5")
    elapsed = time.monotonic() - start
    assert r.returncode == 4, r.output
    assert "no SSH server answered" in r.stderr or "no key exchange" in r.stderr
    assert elapsed < 1.5 + 3  # the timeout plus interpreter start-up
    assert not (tmp_path / "kh").exists()


@pytest.mark.sshd
def test_unreachable_alias_warns_but_the_verified_main_host_counts(sshd: Sshd, tmp_path: Path) -> None:
    closed = free_port()
    keys = ", ".join(f'"{sshd.public_key(k)}"' for k in ("ed25519", "ecdsa", "rsa"))
    text = f'[providers.two]\nhosts = ["[127.0.0.1]:{sshd.port}", "[127.0.0.1]:{closed}"]\nkeys = [{keys}]\n'
    kh = tmp_path / "kh"
    r = onboard("hosts", "verify", "two", "--providers-file", str(pins(tmp_path, text)), "--known-hosts", str(kh),
                "--no-hash", "--timeout", "2")
    assert r.returncode == 0, r.output
    assert f"[127.0.0.1]:{closed}: cannot connect" in r.stderr and "main host verified" in r.stderr
    assert kh.read_text().count(f"[127.0.0.1]:{closed} ") == 3
    text = f'[providers.two]\nhosts = ["[127.0.0.1]:{closed}", "[127.0.0.1]:{sshd.port}"]\nkeys = [{keys}]\n'
    r = onboard("hosts", "verify", "two", "--providers-file", str(pins(tmp_path, text)), "--known-hosts",
                str(tmp_path / "kh2"), "--timeout", "2")
    assert r.returncode == 4 and not (tmp_path / "kh2").exists()  # the main host itself must answer


def test_closed_port_is_exit_4(tmp_path: Path) -> None:
    port = free_port()
    text = f'[providers.closed]\nhosts = ["[127.0.0.1]:{port}"]\nfingerprints = ["{next(iter(GITHUB_CURRENT))}"]\n'
    r = onboard("hosts", "verify", "closed", "--providers-file", str(pins(tmp_path, text)),
                "--known-hosts", str(tmp_path / "kh"), "--timeout", "2")
    assert r.returncode == 4 and "cannot connect" in r.stderr
    assert not (tmp_path / "kh").exists()


def test_offline_on_a_file_trusting_githubs_2023_key(home: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    kh = ssh / "known_hosts"
    kh.write_text(f"# mine\ngithub.com {OLD_GITHUB_RSA}\n140.82.121.4 {OLD_GITHUB_RSA}\n")
    r = onboard("hosts", "verify", "github", "gitlab", "bitbucket", "azure-devops", "--offline")
    assert r.returncode == 0, r.output
    assert "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8" in r.stderr  # said it removed it
    for host, expected in (("github.com", GITHUB_CURRENT), ("[ssh.github.com]:443", GITHUB_CURRENT)):
        out = subprocess.run(["ssh-keygen", "-l", "-F", host, "-f", str(kh)], capture_output=True, text=True).stdout
        fps = {w for w in out.split() if w.startswith("SHA256:")}
        assert fps == expected, host
    assert OLD_GITHUB_RSA.split()[1] not in kh.read_text()
    assert kh.read_text().startswith("# mine\n")


def test_symlinked_known_hosts_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("# keep\n")
    link = tmp_path / "kh"
    link.symlink_to(real)
    r = onboard("hosts", "verify", "github", "--offline", "--known-hosts", str(link))
    assert r.returncode == 5 and "symbolic link" in r.stderr
    assert real.read_text() == "# keep\n" and link.is_symlink()


@pytest.mark.sshd
def test_server_with_only_sha1_rsa_is_reported_as_that_not_as_an_attack(sshd: Sshd, tmp_path: Path) -> None:
    from helpers.sshd import start_sshd

    root = tmp_path / "old-sshd"
    root.mkdir()
    old = start_sshd(root, kinds=("rsa",), extra=("HostKeyAlgorithms ssh-rsa",))  # SHA-1 signatures only
    try:
        text = f'[providers.legacy]\nhosts = ["[127.0.0.1]:{old.port}"]\nkeys = ["{old.public_key("rsa")}"]\n'
        r = onboard("hosts", "verify", "legacy", "--providers-file", str(pins(tmp_path, text)),
                    "--known-hosts", str(tmp_path / "kh"))
    finally:
        assert old.proc
        old.proc.terminate()
    assert r.returncode == 3, r.output
    assert "only SHA-1 ssh-rsa cannot be verified" in r.stderr
    assert "man-in-the-middle" not in r.stderr
    assert not (tmp_path / "kh").exists()


def test_unknown_provider_is_usage_error() -> None:
    r = onboard("hosts", "verify", "nope", "--offline")
    assert r.returncode == 2 and "unknown provider 'nope'" in r.stderr and "github" in r.stderr


@pytest.mark.sshd
def test_probe_never_authenticates(tmp_path: Path) -> None:
    """sshd at DEBUG1 logs every authentication request; the probes must cause none."""
    from helpers.sshd import start_sshd

    root = tmp_path / "verbose-sshd"
    root.mkdir()
    server = start_sshd(root, extra=("LogLevel DEBUG1",))
    try:
        text = server.providers_toml()
        r = onboard("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, text)),
                    "--known-hosts", str(tmp_path / "kh"), "--no-hash")
        assert r.returncode == 0, r.output
        time.sleep(0.3)
        probe_log = (root / "sshd.log").read_text()
        assert probe_log.count("Connection from 127.0.0.1") >= 3  # the log really shows connections
        assert "userauth" not in probe_log and "Failed" not in probe_log and "Accepted" not in probe_log
        ssh_reaches_auth(server, tmp_path / "kh")  # control: a real ssh login attempt is logged as one
        time.sleep(0.3)
        assert "userauth" in (root / "sshd.log").read_text() or "Failed" in (root / "sshd.log").read_text()
    finally:
        assert server.proc
        server.proc.terminate()


@pytest.mark.sshd
def test_the_right_key_of_one_type_and_a_foreign_key_of_another_is_exit_3(sshd: Sshd, tmp_path: Path) -> None:
    """The server presents its pinned ed25519 key and an RSA key that is not the pinned one (a
    man in the middle who has one of the server's keys): exit 3, known_hosts untouched (issue 22)."""
    foreign = tmp_path / "foreign_rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", str(foreign)], check=True)
    foreign_line = " ".join(Path(str(foreign) + ".pub").read_text().split()[:2])
    kh = tmp_path / "known_hosts"
    kh.write_bytes(PRESERVED)
    text = (f'[providers.local]\nhosts = ["[127.0.0.1]:{sshd.port}"]\nuser = "{sshd.user}"\n'
            f'keys = ["{sshd.public_key("ed25519")}", "{foreign_line}"]\n')
    r = onboard("hosts", "verify", "local", "--providers-file", str(pins(tmp_path, text)), "--known-hosts", str(kh))
    assert r.returncode == 3, r.output
    assert fingerprint_of_line(sshd.public_key("rsa")) in r.stderr, r.output
    assert kh.read_bytes() == PRESERVED
