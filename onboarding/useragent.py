"""The user's one persistent ssh-agent (day two: `onboard unlock` / `onboard lock`).

It lives on a stable socket, `agent.persistent_socket(home)` (~/.ssh/agent/onboard.sock, in a
0700 folder of the user's), so that processes no shell file reaches (the Jupyter server, VS
Code's Git panel, cron) find it through the managed ssh config block (`IdentityAgent`).
It is `ssh-agent -a SOCK` in its daemon form: ssh-agent forks into a session of its own with
stdin/stdout/stderr on /dev/null once its socket listens, so it outlives the terminal and the
launcher's process group, and `$(onboard unlock --json)` returns at once. Liveness is "the agent
answers" (a socket file survives a reboot); a lock file beside the socket makes two starters
leave one agent. Keys go in over the agent protocol (agent.identity_blob): the passphrase
never reaches an argv, an environment or a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from onboarding import fsutil
from onboarding import proc as procs
from onboarding.agent import identity_blob, persistent_socket
from onboarding.errors import ConflictError, OnboardError, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes on Linux, one of them the final NUL
REQUEST_IDENTITIES, IDENTITIES_ANSWER = 11, 12
ADD_IDENTITY, ADD_ID_CONSTRAINED, REMOVE_IDENTITY = 17, 25, 18
AGENT_SUCCESS, AGENT_FAILURE = 6, 5
CONSTRAIN_LIFETIME = 1
ANSWER_TIMEOUT = 5.0  # an agent that accepts but never answers is not live: never hang on it


class AgentError(OnboardError):
    """The persistent agent could not be started or refused a request (exit 1)."""


def socket_path(home: Path) -> Path:
    """The socket, checked to fit in sockaddr_un (ssh and ssh-agent could not use a longer one)."""
    sock = persistent_socket(home)
    size = len(os.fsencode(sock))
    if size > SUN_PATH_MAX:
        raise UsageError(f"the agent's socket path {sock} is {size} bytes; the system allows at most {SUN_PATH_MAX}",
                         hint="a home directory with a shorter path is needed for a persistent agent")
    return sock


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _recv_exact(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the agent closed the connection")
        data += chunk
    return data


def request(sock: Path, message: bytes, timeout: float = ANSWER_TIMEOUT) -> bytes:
    """One agent-protocol exchange; OSError when nothing answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(_string(message))
        size = struct.unpack(">I", _recv_exact(s, 4))[0]
        if size > 1 << 20:
            raise ConnectionError("the agent's answer is too large")
        return _recv_exact(s, size)


def identities(sock: Path) -> list[bytes] | None:
    """The public key blobs the agent holds; None when it does not answer (not running)."""
    try:
        reply = request(sock, bytes([REQUEST_IDENTITIES]))
    except (OSError, ValueError):
        return None
    if reply[:1] != bytes([IDENTITIES_ANSWER]) or len(reply) < 5:
        return None
    count, pos, blobs = struct.unpack(">I", reply[1:5])[0], 5, []
    try:
        for _ in range(count):
            for field in range(2):  # the key blob, then its comment
                n = struct.unpack(">I", reply[pos : pos + 4])[0]
                if field == 0:
                    blobs.append(reply[pos + 4 : pos + 4 + n])
                pos += 4 + n
    except struct.error:  # a truncated answer: not an agent we can talk to
        return None
    return blobs


def answers(sock: Path) -> bool:
    return identities(sock) is not None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Two shells (or a shell and `onboard unlock`) starting the agent at once leave one: the shell
    block takes the same flock(2) lock (flock(1)) on the same file."""
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Started:
    sock: Path
    started: bool  # False: an agent was already answering there
    pid: int | None = None


def ensure_folder(sock: Path) -> None:
    """~/.ssh/agent: a 0700 directory of ours (tightened when looser; refused when a link or another's)."""
    fsutil.ensure_private_dir(sock.parent.parent, None)
    fsutil.ensure_private_dir(sock.parent, None)  # refuses a link, another's folder, one others can write
    if os.lstat(sock.parent).st_mode & 0o077:  # ours, but readable by others: only the user may reach the agent
        os.chmod(sock.parent, 0o700)


def ensure_running(home: Path) -> Started:
    """The agent answering on the user's socket: the one already there, or a new one."""
    sock = socket_path(home)
    if answers(sock):
        return Started(sock, False)
    if not procs.which("ssh-agent"):
        raise UsageError("ssh-agent is not installed", hint="apt-get install openssh-client")
    ensure_folder(sock)
    with _locked(sock.parent):
        if answers(sock):  # another starter won the race while we waited for the lock
            return Started(sock, False)
        _remove_stale(sock)
        return Started(sock, True, _start(sock))


def _remove_stale(sock: Path) -> None:
    """A socket left by an agent that is gone (a reboot, a kill): only a socket file is removed."""
    try:
        st = os.lstat(sock)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ConflictError(f"{sock} exists and is not a socket; refusing to replace it",
                            hint="move it away, then run `onboard unlock` again")
    os.unlink(sock)


def _start(sock: Path) -> int | None:
    # The daemon form: ssh-agent binds and listens, forks, and the parent exits printing the pid.
    done = procs.run(["ssh-agent", "-s", "-a", str(sock)], timeout=10)
    if done.returncode != 0:
        raise AgentError(f"ssh-agent did not start on {sock}: {done.err.strip() or done.returncode}")
    deadline = time.monotonic() + 5
    while not answers(sock):
        if time.monotonic() > deadline:
            raise AgentError(f"the agent started on {sock} does not answer")
        time.sleep(0.01)
    for part in done.out.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "SSH_AGENT_PID" and value.isdigit():
            return int(value)
    return None


def add_key(sock: Path, key: PrivateKeyTypes, comment: str, lifetime: int | None) -> None:
    """Add (or, when present, re-add with the new lifetime: ssh-agent replaces its constraints)."""
    body = identity_blob(key, comment)
    if lifetime is None:
        message = bytes([ADD_IDENTITY]) + body
    else:
        message = bytes([ADD_ID_CONSTRAINED]) + body + bytes([CONSTRAIN_LIFETIME]) + struct.pack(">I", lifetime)
    try:
        reply = request(sock, message)
    except OSError as exc:
        raise AgentError(f"the agent on {sock} did not take the key ({exc.strerror or exc})") from None
    if reply[:1] != bytes([AGENT_SUCCESS]):
        raise AgentError(f"the agent on {sock} refused the key")


def remove_key(sock: Path, blob: bytes) -> bool:
    """Remove one key by its public blob; False when the agent did not hold it (or is not running)."""
    held = identities(sock)
    if not held or blob not in held:
        return False
    try:
        reply = request(sock, bytes([REMOVE_IDENTITY]) + _string(blob))
    except OSError as exc:
        raise AgentError(f"the agent on {sock} did not answer ({exc.strerror or exc})") from None
    return reply[:1] == bytes([AGENT_SUCCESS])


def public_blob(key: Path) -> bytes | None:
    """The key's public blob without its passphrase: from the private key's header, else its .pub."""
    import base64

    from onboarding.keys import public_blob_of

    blob = public_blob_of(fsutil.read_bytes(key) or b"")
    if blob is not None:
        return blob
    fields = (fsutil.read_bytes(Path(str(key) + ".pub")) or b"").split()
    try:
        return base64.b64decode(fields[1], validate=True) if len(fields) >= 2 else None
    except ValueError:
        return None
