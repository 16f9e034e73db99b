"""Root's side of the hand-off (onboarding/privilege.py), in-process: what root accepts as the user
side's report and channel before it sends anything. The end-to-end attacks are in
test_userside.py; these pin each refusal (and are what a mutation run can reach)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from onboarding import handoff, privilege
from onboarding.errors import ExitCode, UsageError

ME = privilege.Account("me", os.getuid(), os.getgid(), Path("/"), tuple(os.getgroups()))


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield p
    p.kill()
    p.wait()


def test_a_socket_made_by_another_process_is_refused(child: subprocess.Popen[bytes]) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)  # made here, not by the child
    with a, b:
        problem = privilege._not_the_child(a, child.pid, ME)
    assert problem == f"the channel was made by pid {os.getpid()} (uid {os.getuid()}), not by the user side " \
                      f"(pid {child.pid})"


def test_a_socket_of_another_uid_is_refused() -> None:
    other = ME._replace(uid=ME.uid + 4242)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert "not by the user side" in (privilege._not_the_child(a, os.getpid(), other) or "")


def test_what_is_not_a_unix_stream_socket_is_refused() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        assert privilege._not_the_child(s, os.getpid(), ME) == "the descriptor received is not a Unix stream socket"


def test_groups_other_than_the_accounts_are_refused() -> None:
    wrong = ME._replace(groups=(*ME.groups, 4242424))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        problem = privilege._not_the_child(a, os.getpid(), wrong) or ""
    assert problem.startswith("the user side's groups are"), problem


def test_the_right_maker_passes() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert privilege._not_the_child(a, os.getpid(), ME) is None


def _report(message: dict[str, object], fds: tuple[int, ...] = ()) -> socket.socket:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    handoff.send(theirs, message, fds=fds)
    theirs.close()
    return ours


def test_a_refusal_of_the_user_side_is_exit_2_with_its_reason(child: subprocess.Popen[bytes]) -> None:
    child.kill()
    with _report({"error": "it is being traced (TracerPid 7)"}) as ours, pytest.raises(UsageError) as info:
        privilege._verified_channel(ours, child, ME)
    assert info.value.exit_code == ExitCode.USAGE
    assert "refused to go on: it is being traced (TracerPid 7)" in info.value.message


def test_two_descriptors_are_refused(child: subprocess.Popen[bytes]) -> None:
    r, w = os.pipe()
    with _report({"started": True}, fds=(r, w)) as ours, pytest.raises(UsageError, match="sent 2 descriptors"):
        privilege._verified_channel(ours, child, ME)
    os.close(r)
    os.close(w)


def test_a_child_gone_before_it_reports_is_exit_2_with_its_code() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.close()
    with ours, pytest.raises(UsageError) as info:
        privilege._verified_channel(ours, gone, ME)
    assert "exited (code 7) before it reported that it started" in info.value.message
