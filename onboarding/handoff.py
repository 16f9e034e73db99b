"""The channel between root and the user side of `--user`: framed JSON over a Unix socket.

One message is a 4-byte length and a JSON document; bytes travel as {"$bytes": base64}
(never pickle: the user side's answer is read by root, and unpickling runs code). A
message may carry descriptors (SCM_RIGHTS): the user side hands root the socket the
secrets go over. `peer` says who made a socket (SO_PEERCRED: pid, uid, gid of the process
that created the pair), which is how root knows whom it is talking to.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any, NamedTuple

LIMIT = 64 << 20  # settings, secrets and the input files root read (1 MiB each at most)
_HEADER = struct.Struct("!I")
_BYTES = "$bytes"


class ChannelError(Exception):
    """The other side closed, sent too much, or sent what is not a message."""


class Peer(NamedTuple):
    pid: int
    uid: int
    gid: int


def _wrap(value: Any) -> Any:
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _wrap(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_BYTES} and isinstance(value[_BYTES], str):
            return base64.b64decode(value[_BYTES], validate=True)
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(_wrap(message), separators=(",", ":")).encode()
    return _HEADER.pack(len(data)) + data


def decode(data: bytes) -> dict[str, Any]:
    try:
        value = _unwrap(json.loads(data))
    except (ValueError, RecursionError) as exc:
        raise ChannelError(f"not a message: {exc}") from None
    if not isinstance(value, dict):
        raise ChannelError("not a message: not a JSON object")
    return value


def send(sock: socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    data = encode(message)
    if fds:
        sent = socket.send_fds(sock, [data], list(fds))
        data = data[sent:]
    if data:
        sock.sendall(data)


def receive(sock: socket.socket, *, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """One message (and the descriptors that came with it); ChannelError if the peer closed first."""
    buf = bytearray()
    fds: list[int] = []
    need = _HEADER.size
    while len(buf) < need:
        if max_fds and not fds:
            chunk, got, _flags, _addr = socket.recv_fds(sock, min(need - len(buf), 1 << 16), max_fds)
            fds.extend(got)
        else:
            chunk = sock.recv(min(need - len(buf), 1 << 16))
        if not chunk:
            _close(fds)
            raise ChannelError("the other side closed the channel")
        buf += chunk
        if len(buf) >= _HEADER.size and need == _HEADER.size:
            (size,) = _HEADER.unpack_from(buf)
            if size > LIMIT:
                _close(fds)
                raise ChannelError(f"a message of {size} bytes (at most {LIMIT})")
            need = _HEADER.size + size
    return decode(bytes(buf[_HEADER.size:])), fds


def peer(sock: socket.socket) -> Peer:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return Peer(*struct.unpack("3i", creds))


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
