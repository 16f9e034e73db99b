"""One managed block in ~/.ssh/config, so a later plain `git pull` reaches the right key,
endpoint and agent.

The block must change the meaning of no other line. ssh_config(5) applies the lines before
the first `Host`/`Match` to every host, and a `Host` line scopes everything after it until
the next one; so a block put first (as versions before 0.x did) swallowed the user's
top-level options. Instead the block goes at the END of the file and ends with `Host *`:
- nothing of the user's follows it, so every option, `Host`, `Match` and `Include` of
  theirs is read exactly as before, and for unrelated hosts ssh reads nothing new;
- for the provider hosts ssh takes the first value per option, so the user's own settings
  still win; `IdentityFile` accumulates rather than being first-wins, so ours still applies;
- the closing `Host *` returns to the global scope, so lines someone appends to the file
  later (`cat >> ~/.ssh/config`) apply to every host, as they would without our block.
Inside it, one stanza per provider (DESIGN.md), each named by a comment line: its key when
that is not one ssh tries by itself, the fallback endpoint when port 22 is blocked
(`HostName`/`Port`), the persistent agent when the user chose it (`IdentityAgent`,
`AddKeysToAgent`). Features set their own fields and keep the others' (`update`). A stanza
left with nothing to say is dropped, and a block left with no stanza is removed, restoring
the file. A block in the old shape (no closing `Host *`, one nameless stanza) is moved to
the end on the next write. Every byte outside the markers is kept; rewriting is idempotent
and atomic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboarding import fsutil
from onboarding.errors import UsageError

BEGIN = b"# >>> onboard: managed block, edit with `onboard` or remove both markers >>>\n"
END = b"# <<< onboard <<<\n"
# Back to every host: lines after the block mean what they would without it. On a line of its
# own: ssh before 8.x reads a trailing "# ..." on a Host line as more patterns.
CLOSE = b"# lines below apply to every host again\nHost *\n"
# The comment that names a stanza's provider (so each feature finds its own stanza again).
_NAME = "# provider: "
# ssh_config(5): the IdentityFile defaults ssh tries without being told.
DEFAULT_KEYS = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")


def needs_block(key: Path, home: Path) -> bool:
    """Whether ssh must be told about `key` (it is not one of the names it tries by itself)."""
    return not (key.parent == home / ".ssh" and key.name in DEFAULT_KEYS)


@dataclass(frozen=True)
class Stanza:
    """What the block says for one provider's hosts; None: nothing (ssh's own default)."""

    name: str
    hosts: tuple[str, ...]
    key: str | None = None  # IdentityFile, written with IdentitiesOnly
    hostname: str | None = None  # the fallback endpoint (SSH over 443)
    port: int | None = None
    agent: str | None = None  # IdentityAgent: the persistent agent's socket
    add_keys: str | None = None  # AddKeysToAgent: "yes" or a lifetime such as "1h"

    def empty(self) -> bool:
        return not self.hosts or all(v is None for v in (self.key, self.hostname, self.port, self.agent, self.add_keys))

    def render(self) -> list[str]:
        lines = [f"{_NAME}{self.name}", f"Host {' '.join(self.hosts)}"]
        if self.hostname is not None:
            lines.append(f"    HostName {self.hostname}")
        if self.port is not None:
            lines.append(f"    Port {self.port}")
        if self.key is not None:
            lines.append(f"    IdentityFile {_quoted(self.key)}")
            lines.append("    IdentitiesOnly yes")  # Azure DevOps takes the first key offered: offer only this one
        if self.agent is not None:
            lines.append(f"    IdentityAgent {_quoted(self.agent)}")
        if self.add_keys is not None:
            lines.append(f"    AddKeysToAgent {self.add_keys}")
        return lines


_FIELDS = {"hostname": "hostname", "port": "port", "identityfile": "key", "identityagent": "agent",
           "addkeystoagent": "add_keys"}


def render(stanzas: Sequence[Stanza]) -> bytes:
    body = "\n".join(line for s in stanzas if not s.empty() for line in s.render())
    return BEGIN + (body + "\n").encode() + CLOSE + END


def _quoted(text: str) -> str:
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _unquoted(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def split(data: bytes) -> tuple[bytes, bytes | None, bytes]:
    """(before, block or None, after) around the managed block."""
    start = data.find(BEGIN)
    if start < 0:
        return data, None, b""
    stop = data.find(END, start)
    if stop < 0:
        return data, None, b""  # a lone marker: treat the file as unmanaged, keep it whole
    return data[:start], data[start : stop + len(END)], data[stop + len(END) :]


def stanzas_of(block: bytes) -> list[Stanza]:
    """The stanzas a managed block holds (what this module wrote; the closing `Host *` ends them)."""
    found: list[Stanza] = []
    name: str | None = None
    current: dict[str, Any] | None = None
    for raw in block.decode(errors="replace").splitlines():
        line = raw.strip()
        if line.startswith(_NAME):
            name = line[len(_NAME):].strip()
            continue
        word, _, value = line.partition(" ")
        if word.lower() == "host":
            if current is not None:
                found.append(Stanza(**current))
            hosts = tuple(value.split())
            if hosts == ("*",):
                current = None
                break
            current = {"name": name or "", "hosts": hosts}  # the old shape had no name line
            name = None
        elif current is not None and word.lower() in _FIELDS:
            field, value = _FIELDS[word.lower()], _unquoted(value.strip())
            current[field] = int(value) if field == "port" and value.isdigit() else value
    if current is not None:
        found.append(Stanza(**current))
    return found


def read(data: bytes) -> list[Stanza]:
    """The stanzas of the managed block in a config file's bytes (none without a block)."""
    block = split(data)[1]
    return stanzas_of(block) if block else []


def key_text(key: Path, home: Path) -> str:
    """How the block names a path: `~/...` below the home (so it survives a changed mount), else whole."""
    try:
        return "~/" + str(key.relative_to(home))
    except ValueError:
        return str(key)


def _check_value(path: str, what: str) -> None:
    fsutil.check_path_text(Path(path), what)
    if '"' in path:  # ssh_config has no escape for a quote inside a quoted value
        raise UsageError(f"{what}: {path!r} has a double quote, which ssh config cannot hold")


def _append(data: bytes, block: bytes) -> bytes:
    if not data:
        return block
    return data + (b"" if data.endswith(b"\n") else b"\n") + b"\n" + block


def _merge_one(stanzas: list[Stanza], name: str, hosts: Iterable[str], changes: dict[str, Any]) -> list[Stanza]:
    """`stanzas` with provider `name`'s stanza changed (hosts accumulate; fields in `changes` are
    set, None removing one; others kept) and its hosts taken out of every other stanza. The old
    shape's one nameless stanza becomes this provider's: it said one key for all its hosts."""
    hosts = tuple(dict.fromkeys(hosts))
    out: list[Stanza] = []
    mine: Stanza | None = None
    for s in stanzas:
        if s.name in (name, "") and mine is None:
            mine = s
            continue
        rest = tuple(h for h in s.hosts if h not in hosts)
        out.append(dataclasses.replace(s, hosts=rest))
    base = dataclasses.replace(mine, name=name) if mine else Stanza(name, ())
    union = tuple(dict.fromkeys([*base.hosts, *hosts]))
    out.insert(stanzas.index(mine) if mine else len(out), dataclasses.replace(base, hosts=union, **changes))
    return [s for s in out if not s.empty()]


def merge(data: bytes, name: str, hosts: Sequence[str], **changes: Any) -> bytes:
    """The file's bytes with provider `name`'s stanza changed (see `_merge_one`); a block left with
    nothing to say is removed, the user's bytes restored."""
    unknown = set(changes) - set(_FIELDS.values())
    if unknown:
        raise TypeError(f"unknown ssh config field(s): {sorted(unknown)}")
    for field in ("key", "agent"):
        if changes.get(field) is not None:
            _check_value(changes[field], "the key file (--key-file)" if field == "key" else "the agent socket")
    before, old, after = split(data)
    stanzas = _merge_one(stanzas_of(old) if old else [], name, hosts, changes)
    if old is not None and (CLOSE not in old or not stanzas):
        # The old shape (written first, one blank line after it) or a block with nothing left:
        # take it out, restoring the user's file as it was, and append the new shape at the end.
        if before.endswith(b"\n\n") and not after:
            before = before[:-1]
        elif not before and after.startswith(b"\n"):
            after = after[1:]
        data, old = before + after, None
    if not stanzas:
        return data
    block = render(stanzas)
    return _append(data, block) if old is None else before + block + after


def update(path: Path, name: str, hosts: Sequence[str], owner: fsutil.Owner, **changes: Any) -> bool:
    """Change provider `name`'s stanza in the file at `path` (see `merge`); True when the file changed."""
    old = fsutil.read_bytes(path) or b""
    new = merge(old, name, hosts, **changes)
    if new == old:
        return False
    fsutil.ensure_private_dir(path.parent, owner)  # the key may live elsewhere: ~/.ssh may not exist yet
    fsutil.replace_file(path, new, default_mode=0o600, owner=owner)
    return True


def key_change(key: Path, home: Path) -> dict[str, Any]:
    """The `key` field for `update`: named when ssh would not try it by itself, else left out
    (an earlier run's IdentityFile for another key path is replaced by nothing)."""
    return {"key": key_text(key, home) if needs_block(key, home) else None}
