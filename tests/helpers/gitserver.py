"""In-process clone helpers: a client key and known_hosts for the test sshd, a server that
says nothing, and an interrupt that arrives while git runs."""

from __future__ import annotations

import _thread
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def client_key(directory: Path) -> Path:
    """A new passphrase-less ed25519 key pair in `directory`; the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   stdin=subprocess.DEVNULL)
    return key


@contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word (a hung git host)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


@contextmanager
def interrupt_when(ready: Callable[[], bool], limit: float = 30) -> Iterator[None]:
    """Raise KeyboardInterrupt in the main thread (as Ctrl-C would) once `ready()` holds."""
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + limit
        while not stop.is_set() and time.monotonic() < deadline:
            if ready():
                _thread.interrupt_main()
                return
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
