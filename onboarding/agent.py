"""A private ssh-agent for one unattended clone with a passphrase-protected key.

The key is decrypted here (cryptography, with the passphrase we already hold) and handed
to the agent over its socket with the agent protocol's ADD_IDENTITY message, so the
passphrase never leaves this process: no askpass helper, no argv, no file, no
environment variable. ssh then signs through the agent with BatchMode=yes and never asks.
The agent runs in a 0700 directory of its own, as the target user, and is stopped (and
its directory removed) when the `with` block ends, however it ends.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from onboarding import proc as procs
from onboarding.errors import OnboardError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

SSH2_AGENTC_ADD_ID_CONSTRAINED = 25
SSH_AGENT_CONSTRAIN_LIFETIME = 1
SSH_AGENT_SUCCESS = 6
LIFETIME = 3600  # the key leaves the agent by itself even if we were killed before stopping it


def persistent_socket(home: Path) -> Path:
    """The user's one persistent agent (day two, `onboard unlock`): `~/.ssh/agent/onboard.sock`.

    Its folder is 0700 and the user's. Other parts (the managed ssh config block, the shell
    block, the signing wrapper) name this path, so it is fixed, not an option."""
    return home / ".ssh" / "agent" / "onboard.sock"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big") if n else b""  # a leading 0 keeps it positive
    return _string(raw)


def identity_blob(key: PrivateKeyTypes, comment: str) -> bytes:
    """The key in the agent protocol's format (draft-miller-ssh-agent, section 3.2)."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        nums = key.private_numbers()
        pub = nums.public_numbers
        body = (_string(b"ssh-rsa") + _mpint(pub.n) + _mpint(pub.e) + _mpint(nums.d) + _mpint(nums.iqmp)
                + _mpint(nums.p) + _mpint(nums.q))
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
        public = key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
        body = _string(b"ssh-ed25519") + _string(public) + _string(seed + public)
    else:
        raise OnboardError("only RSA and Ed25519 keys can be loaded into the private agent")
    return body + _string(comment.encode())


def _connect(s: socket.socket, path: Path) -> None:
    # The socket file appears at bind(), a moment before the agent's listen(): until then a
    # connect is refused. Retry briefly instead of failing a run on that race.
    deadline = time.monotonic() + 5
    while True:
        try:
            s.connect(str(path))
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _add_identity(sock_path: Path, key: PrivateKeyTypes, comment: str) -> None:
    message = (bytes([SSH2_AGENTC_ADD_ID_CONSTRAINED]) + identity_blob(key, comment)
               + bytes([SSH_AGENT_CONSTRAIN_LIFETIME]) + struct.pack(">I", LIFETIME))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        _connect(s, sock_path)
        s.sendall(_string(message))
        header = s.recv(4)
        reply = s.recv(struct.unpack(">I", header)[0]) if len(header) == 4 else b""
    if reply[:1] != bytes([SSH_AGENT_SUCCESS]):
        raise OnboardError("the private ssh-agent refused the key")


@contextlib.contextmanager
def private_agent(key: PrivateKeyTypes, comment: str) -> Iterator[Path]:
    """Yield SSH_AUTH_SOCK of a fresh agent holding `key`; stop it afterwards."""
    if not procs.which("ssh-agent"):
        raise OnboardError("ssh-agent is not installed", hint="apt-get install openssh-client")
    directory = Path(tempfile.mkdtemp(prefix="onboard-agent-"))  # 0700 by mkdtemp
    sock = directory / "agent.sock"
    proc: procs.Popen[bytes] | None = None
    try:
        proc = procs.start(["ssh-agent", "-D", "-a", str(sock)], stdout=procs.DEVNULL)
        _wait_for(sock, proc)
        _add_identity(sock, key, comment)
        yield sock
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except procs.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_for(sock: Path, proc: procs.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    # The socket file appears at bind(), a moment before listen(): wait until it accepts.
    while not _accepts(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr and proc.poll() is not None else ""
            raise OnboardError(f"the private ssh-agent did not start {err}".strip())
        time.sleep(0.01)


def _accepts(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(sock))
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True

