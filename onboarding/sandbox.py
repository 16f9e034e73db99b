"""A local git-over-SSH server for `onboard demo` (and tests without sshd): paramiko, 127.0.0.1.

It serves `git-upload-pack` (clone and fetch only) for the repositories under one root,
to one authorized public key, with a host key of its own. No shell, no other command.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from onboarding.hostkeys import quiet_paramiko

quiet_paramiko()


class _Server(paramiko.ServerInterface):  # type: ignore[misc]
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.env: dict[str, str] = {}
        self.command = threading.Event()
        self.argv: list[str] = []

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        if self.sandbox.authorized and key.get_base64() == self.sandbox.authorized:
            return int(paramiko.AUTH_SUCCESSFUL)
        return int(paramiko.AUTH_FAILED)

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return int(paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED)

    def check_channel_env_request(self, channel: Any, name: bytes | str, value: bytes | str) -> bool:
        name = name.decode() if isinstance(name, bytes) else name
        if name == "GIT_PROTOCOL":
            self.env[name] = value.decode() if isinstance(value, bytes) else value
            return True
        return False

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        try:
            argv = shlex.split(command.decode())
        except ValueError:
            return False
        if len(argv) != 2 or argv[0] not in ("git-upload-pack", "git upload-pack"):
            return False
        repo = (self.sandbox.root / argv[1].lstrip("/")).resolve()
        if self.sandbox.root.resolve() not in repo.parents or not repo.is_dir():
            return False
        self.argv = ["git-upload-pack", str(repo)]
        self.command.set()
        return True


@dataclass
class Sandbox:
    root: Path
    host_key: paramiko.PKey
    authorized: str | None = None  # base64 of the one key allowed in
    port: int = 0
    _sock: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def host_key_line(self) -> str:
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def url(self, repo: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{repo}"

    def start(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        if self._sock:
            self._sock.close()

    def _accept(self) -> None:
        sock = self._sock
        while sock is not None and not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        try:
            transport.add_server_key(self.host_key)
            server = _Server(self)
            try:
                transport.start_server(server=server)
            except (paramiko.SSHException, EOFError, OSError):
                return  # a host-key probe stops after the key exchange: that is fine
            channel = transport.accept(timeout=10)
            if channel is None or not server.command.wait(timeout=10):
                return
            _pump(channel, server.argv, server.env)
            # Let the client close first: closing under it makes ssh report "Connection reset"
            # and git fail the clone that has in fact arrived whole.
            deadline = time.monotonic() + 10
            while transport.is_active() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            transport.close()


def _pump(channel: Any, argv: list[str], env: dict[str, str]) -> None:
    """Connect git-upload-pack's stdin/stdout to the channel until it exits."""
    import os

    from onboarding import proc as procs

    proc = procs.start(argv, extra=env, stdin=procs.PIPE, stdout=procs.PIPE, stderr=procs.DEVNULL)
    stdin, stdout = proc.stdin, proc.stdout
    if stdin is None or stdout is None:  # pragma: no cover - PIPE always gives both
        return

    def to_git() -> None:
        with contextlib.suppress(OSError, EOFError):
            while data := channel.recv(32768):
                stdin.write(data)
                stdin.flush()
        with contextlib.suppress(OSError):
            stdin.close()

    feeder = threading.Thread(target=to_git, daemon=True)
    feeder.start()
    while data := os.read(stdout.fileno(), 32768):
        channel.sendall(data)
    status = proc.wait()
    channel.shutdown_write()  # EOF, then exit-status, then close: the order OpenSSH's sshd uses
    channel.send_exit_status(status)
    channel.close()


@contextmanager
def running(root: Path, authorized_public_line: str) -> Iterator[Sandbox]:
    """A started sandbox serving `root`, letting in one public key; stopped afterwards."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.NoEncryption())
    import io

    host_key = paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))
    box = Sandbox(root=root, host_key=host_key, authorized=authorized_public_line.split()[1])
    box.start()
    try:
        yield box
    finally:
        box.stop()
