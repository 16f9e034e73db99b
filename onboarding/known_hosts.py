"""Parse, merge and atomically rewrite known_hosts — our own code, never paramiko's save().

paramiko's HostKeys.load() raises on marker lines and save() drops comments and markers,
so a file is handled here as bytes, line by line: a line we do not change is written back
exactly as it was (comments, markers, hashed names, garbage, non-UTF-8 bytes included).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onboarding import fsutil
from onboarding.keys import fingerprint_of_blob


@dataclass(frozen=True)
class Line:
    raw: bytes  # the line exactly as read, newline included
    marker: str | None = None  # "@revoked", "@cert-authority", ...
    names: tuple[str, ...] = ()  # host patterns, plain or |1|salt|hash
    key_type: str | None = None
    key_b64: str | None = None

    @property
    def is_entry(self) -> bool:
        return self.key_b64 is not None

    @property
    def fingerprint(self) -> str | None:
        if self.key_b64 is None:
            return None
        try:
            return fingerprint_of_blob(base64.b64decode(self.key_b64, validate=True))
        except (binascii.Error, ValueError):
            return None

    def names_host(self, pattern: str) -> bool:
        """True when one of the line's names is exactly `pattern` (plain or hashed)."""
        return any(_name_matches(n, pattern) for n in self.names)


def _name_matches(name: str, pattern: str) -> bool:
    if name.startswith("|1|"):
        parts = name.split("|")
        if len(parts) != 4:
            return False
        try:
            salt, digest = base64.b64decode(parts[2]), base64.b64decode(parts[3])
        except (binascii.Error, ValueError):
            return False
        mac = hmac.new(salt, pattern.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, digest)
    return name.lower() == pattern.lower()


def parse_line(raw: bytes) -> Line:
    text = raw.decode("utf-8", errors="replace").strip()
    if not text or text.startswith("#"):
        return Line(raw)
    fields = text.split()
    marker = None
    if fields[0].startswith("@"):
        marker, fields = fields[0], fields[1:]
    if len(fields) < 3:
        return Line(raw, marker)  # not an entry ssh would use; kept untouched
    return Line(raw, marker, tuple(fields[0].split(",")), fields[1], fields[2])


def parse(data: bytes) -> list[Line]:
    return [parse_line(raw) for raw in data.splitlines(keepends=True)]


def hash_name(pattern: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(20)  # 20 bytes, as OpenSSH hostfile.c
    mac = hmac.new(salt, pattern.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"


@dataclass(frozen=True)
class Pin:
    """Keys that known_hosts must trust for one host pattern, and which keys it must not."""

    pattern: str
    keys: tuple[str, ...]  # "type base64"
    exclusive: bool  # remove other plain keys for this host (full pins of a provider)


@dataclass(frozen=True)
class MergeResult:
    data: bytes
    added: tuple[str, ...]  # "pattern type fingerprint"
    removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def _describe(line: Line) -> str:
    shown = ",".join("(hashed)" if n.startswith("|1|") else n for n in line.names)
    return f"{shown} {line.key_type} {line.fingerprint}"


def _is_stale(line: Line, pins: Sequence[Pin], revoked: frozenset[str]) -> bool:
    if line.marker is not None or not line.is_entry:
        return False  # markers and comments are the user's decisions
    if line.fingerprint in revoked:
        return True  # a retired key is bad for every host name it is trusted for
    for pin in pins:
        if pin.exclusive and line.names_host(pin.pattern):
            return f"{line.key_type} {line.key_b64}" not in pin.keys
    return False


def merge(data: bytes, pins: Sequence[Pin], revoked: Iterable[str], *,
          hashed: bool | Callable[[], bool]) -> MergeResult:
    """Drop lines trusting revoked or (for exclusive pins) unpinned keys; add what is missing."""
    revoked_set = frozenset(revoked)
    kept: list[Line] = []
    removed: list[str] = []
    for line in parse(data):
        if _is_stale(line, pins, revoked_set):
            removed.append(_describe(line))
        else:
            kept.append(line)
    additions: list[bytes] = []
    added: list[str] = []
    for pin in pins:
        for key in pin.keys:
            if not trusts(kept, pin.pattern, key):
                if callable(hashed):
                    hashed = hashed()  # asked only when a line is added: it may run `ssh -G`
                name = hash_name(pin.pattern) if hashed else pin.pattern
                additions.append(f"{name} {key}\n".encode())
                added.append(f"{pin.pattern} {key.split()[0]} {fingerprint_of_blob(base64.b64decode(key.split()[1]))}")
    out = b"".join(line.raw for line in kept)
    if additions and out and not out.endswith(b"\n"):
        out += b"\n"  # the last line had no newline: do not glue our line onto it
    return MergeResult(out + b"".join(additions), tuple(added), tuple(removed))


def trusts(lines: Sequence[Line], pattern: str, key: str) -> bool:
    key_type, b64 = key.split()[:2]
    return any(
        line.marker is None and line.key_type == key_type and line.key_b64 == b64 and line.names_host(pattern)
        for line in lines
    )


def keys_for(lines: Sequence[Line], pattern: str) -> list[Line]:
    """Plain (unmarked) entries that name `pattern`."""
    return [line for line in lines if line.marker is None and line.is_entry and line.names_host(pattern)]


def update(path: Path, pins: Sequence[Pin], revoked: Iterable[str], *, hashed: bool | Callable[[], bool],
           owner: fsutil.Owner) -> MergeResult:
    """Merge into the file at `path` and write it atomically, only when something changed."""
    old = fsutil.read_bytes(path)
    result = merge(old or b"", pins, revoked, hashed=hashed)
    if result.changed:
        fsutil.replace_file(path, result.data, default_mode=0o644, owner=owner)
    return result


def read_lines(path: Path) -> list[Line]:
    try:
        return parse(path.read_bytes())
    except FileNotFoundError:
        return []
