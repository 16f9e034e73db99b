"""Pinned providers: load providers.toml plus user files, validate them, map a URL to one."""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from onboarding import tomlfile
from onboarding.errors import UsageError
from onboarding.keys import fingerprint_of_blob

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_FIELDS = {
    "hosts", "port", "user", "keys", "fingerprints", "revoked",
    "add_key_url", "docs_url", "title", "paste",
    "api", "api_url", "fallback",
}
APIS = ("github", "gitlab", "bitbucket", "gitea")  # the key APIs onboarding/api speaks
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
_HOST = re.compile(r"^(?:\[([A-Za-z0-9.-]+)\]:(\d+)|([A-Za-z0-9.-]+))$")
KEY_TYPES = {
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
}


@dataclass(frozen=True)
class Host:
    name: str
    port: int

    @property
    def pattern(self) -> str:
        """How known_hosts names this host: a non-22 port is written [host]:port."""
        return self.name if self.port == 22 else f"[{self.name}]:{self.port}"


@dataclass(frozen=True)
class PinnedKey:
    key_type: str
    base64: str
    fingerprint: str

    @property
    def text(self) -> str:
        return f"{self.key_type} {self.base64}"


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    hosts: tuple[Host, ...]
    user: str
    keys: tuple[PinnedKey, ...]
    fingerprints: frozenset[str]
    revoked: frozenset[str]
    add_key_url: str | None
    docs_url: str | None
    paste: str | None
    source: str
    api: str | None = None  # which key API the provider speaks (APIS), and where
    api_url: str | None = None
    fallback: Host | None = None  # one of `hosts`: where ssh goes when port 22 is blocked (SSH over 443)

    @property
    def canonical(self) -> Host:
        return self.hosts[0]

    def accepted(self, fingerprint: str) -> bool:
        return fingerprint in self.fingerprints and fingerprint not in self.revoked


def _err(source: str, name: str, message: str) -> UsageError:
    return UsageError(f"{source}: provider {name!r}: {message}")


def _str_list(raw: Mapping[str, Any], key: str, source: str, name: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err(source, name, f"{key} must be a list of strings")
    return value


def parse_key(text: str) -> PinnedKey:
    """'type base64' -> PinnedKey; ValueError with the reason when it is not a public key."""
    parts = text.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError(f"not 'type base64' with a known type: {text[:40]!r}")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the base64 of {parts[0]} key is corrupted") from None
    # The blob starts with its own type name; a mismatch means a mislabelled or damaged key.
    if len(blob) < 4 or blob[4 : 4 + int.from_bytes(blob[:4], "big")] != parts[0].encode():
        raise ValueError(f"the {parts[0]} key's data does not start with its type (corrupted?)")
    return PinnedKey(parts[0], parts[1], fingerprint_of_blob(blob))


def host_from_text(text: str, default_port: int) -> Host:
    """'name' or '[name]:port' -> Host, normalised as ssh compares names: lower case, and
    `[name]:22` is the plain name, so no spelling of a built-in host escapes the
    one-provider-per-host check. ValueError with the reason otherwise."""
    m = _HOST.match(text)
    if not m or (m[1] or m[3]).startswith("-"):  # `[-oX]:22` too: a name must never read as an option
        raise ValueError(f"bad host {text!r} (a name, or [name]:port)")
    name = canonical_name(m[1] or m[3])
    if not name or name.endswith(".") or name.startswith("."):
        raise ValueError(f"bad host {text!r} (a name, or [name]:port)")
    if not m[1]:
        return Host(name, default_port)
    port = int(m[2]) if len(m[2]) <= 5 else 0
    if not 0 < port < 65536:
        raise ValueError(f"bad host {text!r}: the port must be a number from 1 to 65535")
    return Host(name, port)


def canonical_name(name: str) -> str:
    """A host name as DNS compares it: lower case, without the one trailing dot of a fully
    qualified spelling (`GitHub.com.` is github.com)."""
    name = name.lower()
    return name[:-1] if name.endswith(".") else name


def _hosts(raw: Mapping[str, Any], source: str, name: str, default_port: int) -> tuple[Host, ...]:
    out = []
    for text in _str_list(raw, "hosts", source, name):
        try:
            out.append(host_from_text(text, default_port))
        except ValueError as exc:
            raise _err(source, name, str(exc)) from None
    if not out:
        raise _err(source, name, "hosts must list at least one host")
    return tuple(dict.fromkeys(out))


def _check_text(source: str, name: str, field: str, value: str) -> None:
    # These strings end up in known_hosts, ssh config lines and the terminal: one line each.
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _err(source, name, f"{field} must be one line without control characters")


def parse_provider(name: str, raw: Any, source: str) -> Provider:
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UsageError(f"{source}: a provider name must be one line without control characters: {name!r}")
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: providers.{name} must be a table")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _err(source, name, f"unknown field {unknown[0]!r}")
    port = raw.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise _err(source, name, "port must be a number from 1 to 65535")
    try:
        keys = tuple(parse_key(k) for k in _str_list(raw, "keys", source, name))
    except ValueError as exc:
        raise _err(source, name, f"keys: {exc}") from None
    fps = _str_list(raw, "fingerprints", source, name)
    revoked = _str_list(raw, "revoked", source, name)
    for fp in fps + revoked:
        if not _FINGERPRINT.match(fp):
            raise _err(source, name, f"bad fingerprint {fp!r} (SHA256: and 43 base64 characters)")
    if not keys and not fps:
        raise _err(source, name, "give keys or fingerprints (at least one of the two)")
    key_fps = {k.fingerprint for k in keys}
    if keys and fps and key_fps != set(fps):
        odd = sorted(key_fps ^ set(fps))[0]
        raise _err(source, name, f"keys and fingerprints disagree about {odd} (a corrupted value?)")
    if (key_fps | set(fps)) & set(revoked):
        raise _err(source, name, "a pinned key is also listed as revoked")
    strings = {}
    for key in ("user", "add_key_url", "docs_url", "title", "paste", "api", "api_url"):
        if key in raw and not isinstance(raw[key], str):
            raise _err(source, name, f"{key} must be a string")
        if key in raw:  # paste may span lines (it is only shown), but no escape sequences
            _check_text(source, name, key, raw[key].replace("\n", " ") if key == "paste" else raw[key])
        strings[key] = raw.get(key)
    _check_api(strings["api"], strings["api_url"], source, name)
    hosts = _hosts(raw, source, name, port)
    return Provider(
        name=name,
        title=strings["title"] or name,
        hosts=hosts,
        user=strings["user"] or "git",
        keys=keys,
        fingerprints=frozenset(key_fps | set(fps)),
        revoked=frozenset(revoked),
        add_key_url=strings["add_key_url"],
        docs_url=strings["docs_url"],
        paste=strings["paste"],
        source=source,
        api=strings["api"],
        api_url=strings["api_url"],
        fallback=_fallback(raw, hosts, port, source, name),
    )


def _fallback(raw: Mapping[str, Any], hosts: tuple[Host, ...], port: int, source: str, name: str) -> Host | None:
    """The `fallback` endpoint: one of the provider's hosts other than the canonical one, so it is
    pinned with the provider's keys like every other host (never a host of its own)."""
    text = raw.get("fallback")
    if text is None:
        return None
    if not isinstance(text, str):
        raise _err(source, name, "fallback must be a string ([name]:port)")
    try:
        host = host_from_text(text, port)
    except ValueError as exc:
        raise _err(source, name, f"fallback: {exc}") from None
    if host not in hosts[1:]:
        raise _err(source, name, f"fallback {host.pattern} must be one of its hosts other than the first "
                   f"({', '.join(h.pattern for h in hosts[1:]) or 'it has no other'})")
    return host


def _check_api(api: str | None, url: str | None, source: str, name: str) -> None:
    if api is None and url is None:
        return
    if api not in APIS:
        raise _err(source, name, f"api must be one of {', '.join(APIS)}")
    if url is None or not url.startswith(("https://", "http://")):
        raise _err(source, name, "api_url must be the API's https:// address (it goes with api)")


def builtin() -> dict[str, Provider]:
    text = resources.files("onboarding").joinpath("providers.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)["providers"]
    return {name: parse_provider(name, raw, "providers.toml") for name, raw in data.items()}


def load_file(path: Path, raw: bytes | None = None) -> dict[str, Any]:
    """A --providers-file's tables; `raw`: its bytes when root read them for the user side."""
    data = tomlfile.load(path, "providers file", raw)
    if set(data) - {"providers"} or not isinstance(data.get("providers", {}), dict):
        raise UsageError(f"{path}: a providers file has only [providers.NAME] tables")
    return dict(data.get("providers", {}))


def load_all(
    extra: Iterable[tuple[str, Mapping[str, Any]]] = (),
) -> dict[str, Provider]:
    """Built-ins plus extra (source, {name: table}) sets; built-ins cannot be redefined."""
    known = builtin()
    for source, tables in extra:
        for name, raw in tables.items():
            if name in known:
                raise UsageError(
                    f"{source}: provider {name!r} is built in and cannot be redefined",
                    hint="give your own server another name; built-in pins change only with onboard itself",
                )
            provider = parse_provider(name, raw, source)
            taken = {h.pattern: p.name for p in known.values() for h in p.hosts}
            # A built-in host's name is its on every port: `ssh.github.com` (GitHub's fallback over
            # 443) on port 22 is still GitHub's, and a file must not pin another key for it.
            builtin_names = {h.name: p.name for p in known.values() if p.source == "providers.toml" for h in p.hosts}
            for host in provider.hosts:
                owner = taken.get(host.pattern) or builtin_names.get(host.name)
                if owner:
                    raise _err(source, name, f"host {host.pattern} is already pinned by {owner!r}")
            known[name] = provider
    return known


def select(providers: Mapping[str, Provider], names: Iterable[str]) -> list[Provider]:
    chosen = []
    for name in names:
        if name not in providers:
            raise UsageError(
                f"unknown provider {name!r}",
                hint=f"known: {', '.join(providers)}; pin your own with --providers-file",
            )
        if providers[name] not in chosen:
            chosen.append(providers[name])
    return chosen


def for_host(providers: Mapping[str, Provider], host: str, port: int) -> Provider | None:
    for provider in providers.values():
        if Host(canonical_name(host), port) in provider.hosts:
            return provider
    return None
