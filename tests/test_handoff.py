"""The channel of `--user` (onboarding/handoff.py): framed JSON, bytes kept, descriptors carried,
and a peer that closes, lies about a size or sends what is not a message is an error, never a hang."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator

import pytest

from onboarding import handoff


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    b.settimeout(5)
    with a, b:
        yield a, b


def test_a_message_keeps_bytes_and_structure(pair: tuple[socket.socket, socket.socket]) -> None:
    message = {"passphrase": b"\x00pp\xff", "files": {"/etc/x": b"data"}, "argv": ["keygen", "-y"], "uid": 1000,
               "none": None, "nested": [{"k": b"v"}]}
    handoff.send(pair[0], message)
    assert handoff.receive(pair[1]) == (message, [])


def test_a_descriptor_travels_with_its_message(pair: tuple[socket.socket, socket.socket]) -> None:
    r, w = os.pipe()
    handoff.send(pair[0], {"started": True}, fds=(r,))
    os.close(r)
    message, fds = handoff.receive(pair[1], max_fds=2)
    assert message == {"started": True} and len(fds) == 1
    os.write(w, b"through the copy")
    os.close(w)
    assert os.read(fds[0], 100) == b"through the copy"
    os.close(fds[0])


def test_the_peer_is_who_made_the_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    assert handoff.peer(pair[1]) == (os.getpid(), os.getuid(), os.getgid())


def test_a_peer_that_closes_first_is_a_channel_error(pair: tuple[socket.socket, socket.socket]) -> None:
    pair[0].sendall(struct.pack("!I", 10) + b"{}")
    pair[0].close()
    with pytest.raises(handoff.ChannelError, match="closed"):
        handoff.receive(pair[1])


def test_a_size_past_the_limit_is_refused_before_reading(pair: tuple[socket.socket, socket.socket]) -> None:
    pair[0].sendall(struct.pack("!I", handoff.LIMIT + 1))
    with pytest.raises(handoff.ChannelError, match="at most"):
        handoff.receive(pair[1])


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"x": {"$bytes": "!!"}}', b"[" * 100000])
def test_what_is_not_a_message_is_a_channel_error(pair: tuple[socket.socket, socket.socket], body: bytes) -> None:
    pair[0].sendall(struct.pack("!I", len(body)) + body)
    with pytest.raises(handoff.ChannelError, match="not a message"):
        handoff.receive(pair[1])
