"""Parse, merge and atomically rewrite known_hosts — our own code, never paramiko's save().

paramiko's HostKeys.load() raises on marker lines and save() drops comments and markers,
so a file is handled here as bytes, line by line: a line we do not change is written back
exactly as it was (comments, markers, hashed names, garbage, non-UTF-8 bytes included).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
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
        return _hash_matches(name, pattern)
    return name.lower() == pattern.lower()


def _hash_matches(name: str, host: str) -> bool:
    parts = name.split("|")
    if len(parts) != 4:
        return False
    try:
        salt, digest = base64.b64decode(parts[2]), base64.b64decode(parts[3])
    except (binascii.Error, ValueError):
        return False
    mac = hmac.new(salt, host.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(mac, digest)


def _glob(pattern: str, text: str) -> bool:
    """OpenSSH match_pattern(): `*` and `?` only, the whole string, case folded by the caller."""
    if not has_wildcard(pattern):
        return pattern == text
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, re.DOTALL) is not None


def has_wildcard(name: str) -> bool:
    return "*" in name or "?" in name


def field_matches(names: Sequence[str], host: str) -> bool:
    """Whether ssh would use a line with these names for `host` ("name" or "[name]:port").

    As OpenSSH hostfile.c match_maybe_hashed(): a hashed field is one name; otherwise a
    pattern list where any matching negated pattern (`!pat`) vetoes the whole line.
    """
    host = host.lower()
    if names and names[0].startswith("|1|"):
        return len(names) == 1 and _hash_matches(names[0], host)
    positive = False
    for name in names:
        negated = name.startswith("!")
        if _glob(name[1:].lower() if negated else name.lower(), host):
            if negated:
                return False
            positive = True
    return positive


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
    exclusive: bool  # no plain line of any form may trust another key for this host
    also: frozenset[str] = frozenset()  # fingerprints also fine for it (a provider pinned by fingerprint)

    @functools.cached_property
    def allowed(self) -> frozenset[str]:
        """Fingerprints a line may trust for this host."""
        return self.also | {fingerprint_of_blob(base64.b64decode(k.split()[1])) for k in self.keys}


@dataclass(frozen=True)
class MergeResult:
    data: bytes
    added: tuple[str, ...]  # "pattern type fingerprint"
    removed: tuple[str, ...]  # whole lines taken out
    neutralised: tuple[str, ...] = ()  # lines rewritten so they no longer cover a pinned host
    cert_authorities: tuple[str, ...] = ()  # @cert-authority lines covering a pinned host: kept

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.neutralised)


def _describe(line: Line) -> str:
    shown = ",".join("(hashed)" if n.startswith("|1|") else n for n in line.names)
    return f"{shown} {line.key_type} {line.fingerprint}"


def _intruded(line: Line, pins: Sequence[Pin]) -> list[str]:
    """Pinned hosts this plain line would let a non-pinned key match."""
    fp = line.fingerprint
    if line.marker is not None or fp is None:
        return []  # markers are the user's decisions; a key ssh cannot parse trusts nothing
    return [p.pattern for p in pins if p.exclusive and field_matches(line.names, p.pattern) and fp not in p.allowed]


def _narrow(line: Line, hosts: Sequence[str]) -> tuple[str, ...]:
    """The line's names without `hosts`: plain names dropped, wildcards vetoed with `!host`."""
    names = [n for n in line.names if not any(n.lower() == h.lower() for h in hosts)]
    for host in hosts:
        if field_matches(names, host):
            names.append("!" + host)
    return tuple(names)


def _rename(raw: bytes, names: Sequence[str]) -> bytes:
    """The raw line with its host field replaced; every other byte kept."""
    stripped = raw.lstrip()
    field = stripped.split(None, 1)[0]
    start = len(raw) - len(stripped)
    return raw[:start] + ",".join(names).encode() + raw[start + len(field) :]


def merge(data: bytes, pins: Sequence[Pin], revoked: Iterable[str], *,
          hashed: bool | Callable[[], bool]) -> MergeResult:
    """Make known_hosts trust exactly the pins for pinned hosts; add what is missing.

    A plain line trusting a revoked key goes (that key material is compromised, for any
    name). A plain line that would let another key match an exclusive pin's host loses that
    host: a hashed or single-host line goes, a multi-host line is split (the other hosts keep
    their trust), a wildcard gets `!host` so it no longer covers it. `@revoked` lines stay;
    `@cert-authority` lines covering a pinned host stay and are reported.
    """
    revoked_set = frozenset(revoked)
    kept: list[Line] = []
    removed: list[str] = []
    neutralised: list[str] = []
    cas: list[str] = []
    for line in parse(data):
        if line.marker is None and line.is_entry and line.fingerprint in revoked_set:
            removed.append(_describe(line))
            continue
        if line.marker == "@cert-authority" and any(field_matches(line.names, p.pattern) for p in pins):
            cas.append(_describe(line))
        hosts = _intruded(line, pins)
        names = _narrow(line, hosts) if hosts and not line.names[0].startswith("|1|") else ()
        if not hosts:
            kept.append(line)
        elif not [n for n in names if not n.startswith("!")]:
            removed.append(_describe(line))
        else:
            new = parse_line(_rename(line.raw, names))
            neutralised.append(f"{_describe(line)} -> {','.join(names)} (no longer for {', '.join(hosts)})")
            kept.append(new)
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
    return MergeResult(out + b"".join(additions), tuple(added), tuple(removed), tuple(neutralised),
                       tuple(cas))


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
