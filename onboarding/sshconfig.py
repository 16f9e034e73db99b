"""One managed block in ~/.ssh/config, so a later plain `git pull` uses the right key.

Only needed when the key is not at a path ssh tries by itself. The block must change the
meaning of no other line. ssh_config(5) applies the lines before the first `Host`/`Match`
to every host, and a `Host` line scopes everything after it until the next one; so a block
put first (as versions before 0.x did) swallowed the user's top-level options. Instead the
block goes at the END of the file and ends with `Host *`:
- nothing of the user's follows it, so every option, `Host`, `Match` and `Include` of
  theirs is read exactly as before, and for unrelated hosts ssh reads nothing new;
- for the provider hosts ssh takes the first value per option, so the user's own settings
  still win; `IdentityFile` accumulates rather than being first-wins, so ours still applies;
- the closing `Host *` returns to the global scope, so lines someone appends to the file
  later (`cat >> ~/.ssh/config`) apply to every host, as they would without our block.
A block in the old shape (no closing `Host *`) is moved to the end on the next write.
Every byte outside the markers is kept; rewriting is idempotent and atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from onboarding import fsutil
from onboarding.errors import UsageError

BEGIN = b"# >>> onboard: managed block, edit with `onboard` or remove both markers >>>\n"
END = b"# <<< onboard <<<\n"
# Back to every host: lines after the block mean what they would without it. On a line of its
# own: ssh before 8.x reads a trailing "# ..." on a Host line as more patterns.
CLOSE = b"# lines below apply to every host again\nHost *\n"
# ssh_config(5): the IdentityFile defaults ssh tries without being told.
DEFAULT_KEYS = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")


def needs_block(key: Path, home: Path) -> bool:
    return not (key.parent == home / ".ssh" and key.name in DEFAULT_KEYS)


@dataclass(frozen=True)
class Block:
    hosts: tuple[str, ...]
    key: str

    def render(self) -> bytes:
        lines = [
            f"Host {' '.join(self.hosts)}",
            f"    IdentityFile {_quoted(self.key)}",
            "    IdentitiesOnly yes",  # Azure DevOps takes the first key offered: offer only this one
        ]
        return BEGIN + ("\n".join(lines) + "\n").encode() + CLOSE + END


def _quoted(text: str) -> str:
    return f'"{text}"' if any(c.isspace() for c in text) else text


def split(data: bytes) -> tuple[bytes, bytes | None, bytes]:
    """(before, block or None, after) around the managed block."""
    start = data.find(BEGIN)
    if start < 0:
        return data, None, b""
    stop = data.find(END, start)
    if stop < 0:
        return data, None, b""  # a lone marker: treat the file as unmanaged, keep it whole
    return data[:start], data[start : stop + len(END)], data[stop + len(END) :]


def _hosts_in(block: bytes) -> list[str]:
    for line in block.decode(errors="replace").splitlines():
        if line.strip().lower().startswith("host "):
            return line.split()[1:]
    return []


def _key_text(key: Path, home: Path) -> str:
    try:
        return "~/" + str(key.relative_to(home))
    except ValueError:
        return str(key)


def _append(data: bytes, block: bytes) -> bytes:
    if not data:
        return block
    return data + (b"" if data.endswith(b"\n") else b"\n") + b"\n" + block


def merge(data: bytes, hosts: Sequence[str], key: Path, home: Path) -> bytes:
    fsutil.check_path_text(key, "the key file (--key-file)")
    if '"' in str(key):  # ssh_config has no escape for a quote inside a quoted value
        raise UsageError(f"the key file (--key-file): {str(key)!r} has a double quote, which ssh config cannot hold")
    before, old, after = split(data)
    known = _hosts_in(old) if old else []
    union = tuple(dict.fromkeys([*known, *hosts]))
    block = Block(union, _key_text(key, home)).render()
    if old is None:
        return _append(data, block)
    if CLOSE not in old:
        # The old shape, written first in the file followed by one blank line: take it out
        # (restoring the user's file as it was) and append the new shape at the end.
        if not before and after.startswith(b"\n"):
            after = after[1:]
        return _append(before + after, block)
    return before + block + after


def update(path: Path, hosts: Sequence[str], key: Path, home: Path, owner: fsutil.Owner) -> bool:
    """Write the block; True when the file changed."""
    fsutil.ensure_private_dir(path.parent, owner)  # the key may live elsewhere: ~/.ssh may not exist yet
    old = fsutil.read_bytes(path) or b""
    new = merge(old, hosts, key, home)
    if new == old:
        return False
    fsutil.replace_file(path, new, default_mode=0o600, owner=owner)
    return True
