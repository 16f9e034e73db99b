"""secrets.py: a secret is read once and the process holding it writes no core file."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onboarding import secrets as sec
from onboarding.errors import UsageError
from onboarding.settings import Settings

PW = "a passphrase held in memory"


def _core_limit(pid: int) -> str | None:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max core file size"):
                return line.split()[4]  # the soft limit
    except OSError:
        return None
    return None


def test_the_process_holding_a_passphrase_writes_no_core_file(home: Path) -> None:
    """Started with core files allowed (ulimit -c unlimited), onboard turns them off as soon as it
    holds the passphrase: a crash during the RSA generation would otherwise dump it to disk."""
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        pytest.skip("core files are off for every process here (hard limit 0): nothing to show")
    allowed = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)

    def allow_cores() -> None:  # as high as this environment lets a process go
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

    child = subprocess.Popen([sys.executable, "-m", "onboarding", "keygen", "-y", "--passphrase-stdin",
                              "--bits", "4096", "--kdf-rounds", "1"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=allow_cores)
    assert child.stdin is not None
    assert _core_limit(child.pid) == allowed  # the control: cores were allowed when it started
    child.stdin.write(PW.encode())
    child.stdin.close()
    seen = set()
    deadline = time.monotonic() + 30
    while child.poll() is None and time.monotonic() < deadline:
        limit = _core_limit(child.pid)
        if limit is not None:
            seen.add(limit)
        time.sleep(0.005)
    assert child.wait(timeout=30) == 0
    assert "0" in seen, f"core files stayed allowed while the passphrase was held: {seen}"


def test_secrets_never_show_their_values() -> None:
    held = sec.Secrets(PW.encode(), {"GH_TOKEN": "ghp_secret"}, {"github": "kv-token"})
    text = repr(held) + str(held)
    assert PW not in text and "ghp_secret" not in text and "kv-token" not in text
    assert "GH_TOKEN" in text  # names, for debugging, never values


def test_one_passphrase_source_only() -> None:
    s = Settings(passphrase_env="X", passphrase_stdin=True)
    with pytest.raises(UsageError, match="choose one passphrase source"):
        sec.load(s, {"X": "y"}, stdin=lambda: b"z")


def test_stdin_is_read_once_and_served_again() -> None:
    calls = []

    def fake() -> bytes:
        calls.append(1)
        return b"pw\n"

    s = Settings(passphrase_stdin=True)
    first, _ = sec.load(s, {}, stdin=fake)
    assert first.passphrase == b"pw" and calls == [1]
