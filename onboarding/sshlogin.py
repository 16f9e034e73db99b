"""onboard's own ssh logins (doctor's auth test, rotate's login proof) and where ssh really goes.

A login is proven by ssh itself: its verbose log says "Authenticated to HOST ([ADDR]:PORT)"
once the server accepted the key, whatever the server prints after (a greeting, a plain
git-shell's "interactive git shell is not enabled", nothing) and whatever it exits with.
That line also names the endpoint that answered, which is the fallback when the managed
block maps the provider (SSH over 443). The destination never carries a `-p` for a mapped
provider: a command-line port wins over the block's `Port`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from onboarding import fsutil, proc, sshconfig
from onboarding.providers import Host, Provider

# ssh -v logs, at its VERBOSE level (no "debug1:" prefix in recent OpenSSH, with it in older ones):
# `Authenticated to github.com ([140.82.121.4]:22) using "publickey".`; before 8.x:
# "Authentication succeeded (publickey)." (no endpoint).
_AUTHENTICATED = re.compile(r"^(?:debug1: )?Authenticated to (\S+) \(\[([^\]]*)\]:(\d+)\)")
_SUCCEEDED = re.compile(r"^(?:debug1: )?Authentication succeeded")
# ssh's own log lines at -v that are not the server speaking (left out of what is shown).
_LOG = ("debug", "OpenSSH_", "Transferred: ", "Bytes per second: ", "Server accepts key", "Authenticated ",
        "Authentication succeeded", "Connection established", "Authenticating to ", "Warning: Permanently")


def mapped(config: Path, provider: str) -> bool:
    """Whether the managed block sends the hosts of the provider named so to another port (its fallback)."""
    data = fsutil.read_bytes(config) or b""
    return any(s.name == provider and s.port is not None for s in sshconfig.read(data))


def logins(provider: Provider, repos: Sequence[str]) -> list[tuple[str, Host]]:
    """Whom to log in as, and where: each (user, host) of the team's repository URLs on this
    provider (a server may let only the URL's user in), else the provider's default user."""
    from onboarding.clone import parse_url
    from onboarding.errors import OnboardError

    found: list[tuple[str, Host]] = []
    for text in repos:
        try:
            url = parse_url(text)
        except OnboardError:
            continue  # clone reports a bad URL; the auth test just does not use it
        host = Host(url.host.lower(), url.port)
        if host in provider.hosts:
            found.append((url.user or provider.user, host))
    return list(dict.fromkeys(found)) or [(provider.user, provider.canonical)]


def destination(user: str, host: Host, is_mapped: bool) -> list[str]:
    """`[-p PORT] user@host`: no `-p` for port 22 or for a mapped provider (the block's Port must win)."""
    port = [] if host.port == 22 or is_mapped else ["-p", str(host.port)]
    return [*port, f"{user}@{host.name}"]


@dataclass(frozen=True)
class Login:
    ok: bool
    endpoint: str | None  # "name:port" that authenticated us (from ssh's log), when it says
    said: tuple[str, ...]  # what the server and ssh printed, without ssh's debug lines
    timed_out: bool = False

    def last(self, returncode: int) -> str:
        return self.said[-1] if self.said else f"exit {returncode}"


def judge(out: str, err: str, *, timed_out: bool = False) -> Login:
    endpoint, ok = None, False
    said: list[str] = []
    for line in (out + "\n" + err).splitlines():
        m = _AUTHENTICATED.match(line)
        if m:
            ok, endpoint = True, f"{m[1]}:{m[3]}"
        elif _SUCCEEDED.match(line):
            ok = True
        elif line.strip() and not line.startswith(_LOG):
            said.append(line.strip())
    return Login(ok and not timed_out, endpoint, tuple(said), timed_out)


def log_in(base: Sequence[str], user: str, host: Host, *, is_mapped: bool, timeout: float,
           extra: Mapping[str, str] | None = None) -> tuple[Login, int]:
    """`ssh -v -T` (base: clone.ssh_argv, naming key, known_hosts and agent) and its verdict."""
    argv = [*base, "-v", "-T", *destination(user, host, is_mapped)]
    done = proc.run(argv, timeout=timeout + 5, extra=dict(extra) if extra else None)
    return judge(done.out, done.err, timed_out=done.timed_out), done.returncode


def effective(config: Path, host: Host) -> tuple[str, int] | None:
    """(hostname, port) ssh really uses for `host` with this config (`ssh -G`): an earlier line of
    the user's own wins over the block, and this shows it. None without ssh or when it fails.
    A port other than 22 is given as a URL would give it (`-p`)."""
    if not shutil.which("ssh"):
        return None
    port = [] if host.port == 22 else ["-p", str(host.port)]
    argv = ["ssh", "-G", "-F", str(config) if config.exists() else "/dev/null", *port, "--", host.name]
    done = proc.run(argv, timeout=30)
    if done.returncode != 0:
        return None
    got = dict(line.split(" ", 1) for line in done.out.splitlines() if " " in line)
    try:
        return got["hostname"], int(got["port"])
    except (KeyError, ValueError):
        return None
