"""A short managed block in ~/.bashrc for the persistent agent (day two).

ssh itself needs no variable: the managed ssh config block names the agent (`IdentityAgent`).
This block is for what reads SSH_AUTH_SOCK (ssh-add, git's ssh signing, other tools) and for
after a reboot: an interactive shell whose own agent is not live (none, or a forwarded one that
went away; a live forwarded agent wins) exports the persistent socket, and starts an empty
agent there when none answers, under the same lock as `onboard unlock` (flock(1) and
flock(2) on one file). ssh then adds the key the first time the user types its passphrase
(`AddKeysToAgent`). Plain POSIX shell, two `ssh-add -l` at most (exit 2: no agent answers).
Marked, idempotent (rewritten in place) and removable (delete both markers and what is
between).
"""

from __future__ import annotations

from pathlib import Path

from onboarding import fsutil

BEGIN = b"# >>> onboard: persistent ssh-agent, edit with `onboard unlock` or remove both markers >>>\n"
END = b"# <<< onboard: persistent ssh-agent <<<\n"

_BODY = """\
_onboard_sock={sock}
if [ -z "${{SSH_AUTH_SOCK:-}}" ] || {{ ssh-add -l >/dev/null 2>&1; [ $? -eq 2 ]; }}; then
  if {{ SSH_AUTH_SOCK=$_onboard_sock ssh-add -l >/dev/null 2>&1; [ $? -eq 2 ]; }}; then
    (umask 077; cd / && mkdir -p "${{_onboard_sock%/*}}" && exec flock -w 5 "${{_onboard_sock%/*}}/lock" \\
      sh -c 'SSH_AUTH_SOCK=$1 ssh-add -l >/dev/null 2>&1; [ $? -ne 2 ] && exit 0; \\
             [ -S "$1" ] && rm -f "$1"; ssh-agent -a "$1" >/dev/null' sh "$_onboard_sock")
  fi
  SSH_AUTH_SOCK=$_onboard_sock; export SSH_AUTH_SOCK
fi
unset _onboard_sock
"""


def _sh_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def block(sock: Path) -> bytes:
    fsutil.check_path_text(sock, "the agent socket")
    return BEGIN + _BODY.format(sock=_sh_quoted(str(sock))).encode() + END


def _split(data: bytes) -> tuple[bytes, bytes | None, bytes]:
    start = data.find(BEGIN)
    stop = data.find(END, start) if start >= 0 else -1
    if start < 0 or stop < 0:
        return data, None, b""
    return data[:start], data[start : stop + len(END)], data[stop + len(END) :]


def merged(data: bytes, sock: Path | None) -> bytes:
    """`data` with the block for `sock` (replaced in place, else appended), or without it (None)."""
    before, old, after = _split(data)
    if sock is None:
        if old is None:
            return data
        return (before[:-1] if before.endswith(b"\n\n") else before) + after
    new = block(sock)
    if old is not None:
        return before + new + after
    if not data:
        return new
    return data + (b"" if data.endswith(b"\n") else b"\n") + b"\n" + new


def update(rc: Path, sock: Path | None) -> bool:
    """Write (or with None remove) the block in `rc`; True when the file changed."""
    old = fsutil.read_bytes(rc)
    new = merged(old or b"", sock)
    if new == (old or b""):
        return False
    fsutil.replace_file(rc, new, default_mode=0o644, owner=None)
    return True


def present(rc: Path) -> bool:
    return _split(fsutil.read_bytes(rc) or b"")[1] is not None
