"""Ctrl-C and SIGTERM while a host-key probe waits on a silent server end the run promptly
(exit 130), not when the probe's --timeout runs out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture
def silent() -> Iterator[int]:
    """A listener that takes connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_silent_probe_ends_the_run_promptly(silent: int, home: Path, tmp_path: Path,
                                                              sig: signal.Signals) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(f'[providers.quiet]\nhosts = ["[127.0.0.1]:{silent}"]\nkeys = ["{KEY}"]\n')
    p = subprocess.Popen([sys.executable, "-m", "onboarding", "hosts", "verify", "quiet", "--providers-file", str(pins),
                          "--timeout", "20"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    time.sleep(3)  # started, connected, and waiting for the server's banner
    assert p.poll() is None, p.communicate()
    sent = time.monotonic()
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    took = time.monotonic() - sent
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert took < 8, f"{took:.1f}s after the signal (the probe's timeout is 20 s)"
