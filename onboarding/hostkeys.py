"""Probe live host keys with paramiko and judge them against the pins. Never authenticates.

Each (host, key type) gets its own connection that stops after the key exchange: the
server proves it holds the private half of the key it shows, and we never send a user
name or a key. RSA is asked for through rsa-sha2-512/256 (paramiko >= 5 has no SHA-1).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from onboarding import keys as keymod
from onboarding.errors import HostKeyError, NetworkError, UsageError
from onboarding.known_hosts import Pin
from onboarding.providers import Host, Provider

PROBE_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}



def quiet_paramiko() -> None:
    """paramiko logs transport-thread failures with tracebacks; our messages say it better."""
    import logging

    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    logging.getLogger("paramiko").propagate = False


class NotOffered(Exception):
    """The server has no host key of the asked type (or only SHA-1 ssh-rsa)."""


def probe_key(host: Host, key_type: str, timeout: float) -> str:
    """'type base64' of the server's key of that type; NotOffered, or NetworkError."""
    import paramiko  # here, not at the top: --offline and every other command start without it

    quiet_paramiko()
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host.name, host.port), timeout=timeout)
    except TimeoutError:
        raise NetworkError(f"{host.pattern}: connection timed out after {timeout:g}s") from None
    except OSError as exc:
        raise NetworkError(f"{host.pattern}: cannot connect: {exc.strerror or exc}") from None
    transport = paramiko.Transport(sock)
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(sock)
        if _STOPPING.is_set():  # connected just after ^C: end this one too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.get_security_options().key_types = _ALGORITHMS.get(key_type, (key_type,))
        transport.start_client(timeout=max(0.1, deadline - time.monotonic()))
        # start_client can return at its timeout without raising: check it really finished.
        if not transport.is_active() or not transport.completion_event.is_set():
            raise NetworkError(f"{host.pattern}: no key exchange within {timeout:g}s")
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    except paramiko.SSHException as exc:
        text = str(exc)
        if "acceptable host key" in text or "Incompatible" in text:
            raise NotOffered(key_type) from None
        if "banner" in text.lower():
            raise NetworkError(f"{host.pattern}: no SSH server answered within {timeout:g}s ({text})") from None
        raise NetworkError(f"{host.pattern}: SSH negotiation failed: {text}") from None
    except (EOFError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise NetworkError(f"{host.pattern}: connection lost during key exchange ({reason})") from None
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.discard(sock)
        transport.close()


# The probes' sockets, so that Ctrl-C or SIGTERM (main thread) can end the worker threads at once:
# a silent server would otherwise hold each one, and the exit, until its timeout.
_IN_FLIGHT: set[socket.socket] = set()
_IN_FLIGHT_LOCK = threading.Lock()
_STOPPING = threading.Event()


def _abort_in_flight() -> None:
    with _IN_FLIGHT_LOCK:
        _STOPPING.set()
        for sock in _IN_FLIGHT:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the worker's wait ends with EOF: "connection lost"


def probe_types(provider: Provider) -> tuple[str, ...]:
    pinned = tuple(k.key_type for k in provider.keys if k.key_type not in PROBE_TYPES)
    return PROBE_TYPES + tuple(dict.fromkeys(pinned))


@dataclass
class Probe:
    provider: Provider
    host: Host
    live: dict[str, str] = field(default_factory=dict)  # key type -> "type base64"
    error: NetworkError | None = None


def probe_all(chosen: Sequence[Provider], timeout: float) -> list[Probe]:
    """Every host of every provider, every key type, in parallel."""
    probes = [Probe(p, h) for p in chosen for h in p.hosts]
    jobs = [(pr, t) for pr in probes for t in probe_types(pr.provider)]

    def run(job: tuple[Probe, str]) -> None:
        pr, key_type = job
        try:
            pr.live[key_type] = probe_key(pr.host, key_type, timeout)
        except NotOffered:
            pass
        except NetworkError as exc:
            pr.error = pr.error or exc

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(32, max(1, len(jobs))))
    try:
        list(pool.map(run, jobs))
    except BaseException:  # ^C or SIGTERM: stop the probes now, not at their timeout
        _abort_in_flight()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return probes


@dataclass(frozen=True)
class Verdict:
    provider: Provider
    host: Host
    accepted: tuple[str, ...]  # live keys that match the pins
    problems: tuple[str, ...]  # empty when verified
    received: tuple[str, ...]  # "type fingerprint" of every live key
    attack: bool  # the problems look like a man-in-the-middle (mismatch/revoked)


def judge(provider: Provider, host: Host, live: dict[str, str]) -> Verdict:
    pinned = {k.key_type: k.text for k in provider.keys}
    accepted: list[str] = []
    problems: list[str] = []
    received = []
    for key_type, text in sorted(live.items()):
        fp = keymod.fingerprint_of_line(text)
        received.append(f"{key_type} {fp}")
        if fp in provider.revoked:
            problems.append(f"{host.pattern} presented a REVOKED {key_type} key {fp}")
        elif key_type in pinned and text != pinned[key_type]:
            expected = keymod.fingerprint_of_line(pinned[key_type])
            problems.append(f"{host.pattern} {key_type}: expected {expected}, received {fp}")
        elif provider.accepted(fp):
            accepted.append(text)
    attack = bool(problems)
    if not live:
        problems.append(
            f"{host.pattern} offered none of the host key types we can check "
            "(ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa with rsa-sha2-256/512); "
            "a server with only SHA-1 ssh-rsa cannot be verified"
        )
    elif not accepted and not problems:
        got = ", ".join(received)
        problems.append(f"{host.pattern}: none of its keys ({got}) matches a pinned fingerprint")
        attack = True
    return Verdict(provider, host, tuple(accepted), tuple(problems), tuple(received), attack)


def pins_for(provider: Provider, accepted: Sequence[str] = ()) -> list[Pin]:
    """What known_hosts must trust: all pinned full keys, or the matching live keys."""
    keys = tuple(k.text for k in provider.keys) or tuple(dict.fromkeys(accepted))
    # Exclusive for every provider, built in or from a team file, pinned by keys or by
    # fingerprints: no other key may stay trusted for its hosts.
    also = frozenset(provider.fingerprints - provider.revoked)
    return [Pin(h.pattern, keys, exclusive=True, also=also) for h in provider.hosts]


@dataclass(frozen=True)
class Route:
    """Where ssh goes for one provider: `via` its fallback endpoint, or direct (None), and why."""

    provider: Provider
    via: Host | None
    reason: str | None = None  # why port 22 was given up (auto), for the report; None: asked for (always)


def check_mode(chosen: Sequence[Provider], mode: str, origin: str = "--ssh-over-443") -> None:
    """`always` needs a fallback for every chosen provider: exit 2 before any probe. `origin`
    names where the value came from (the flag, ONBOARD_SSH_OVER_443 or the team file)."""
    if mode != "always":
        return
    missing = [p.name for p in chosen if p.fallback is None]
    if missing:
        raise UsageError(
            f"{origin} always: {', '.join(missing)} has no fallback endpoint",
            hint="choose providers that have one (GitHub), or --ssh-over-443 auto; docs/host-keys.md says how a "
            "team file names one",
        )


def verify(chosen: Sequence[Provider], *, offline: bool, timeout: float, mode: str = "never",
           origin: str = "--ssh-over-443") -> tuple[list[Pin], list[Verdict], list[NetworkError], list[Route]]:
    """Pins to write for all `chosen`, and where ssh goes for each; or raise (HostKeyError before
    NetworkError) and write nothing.

    An unreachable *alias* (say ssh.github.com:443 behind a firewall) does not fail the run when
    the provider's canonical host verified: the aliases share its keys. It is returned instead.
    `mode` (--ssh-over-443): auto uses a provider's fallback when its canonical host gave a
    NetworkError (refused, timed out, no banner, not SSH) and the fallback verified; always uses
    it whenever it verifies; never does not. A key mismatch anywhere is exit 3 first, never a
    reason to switch. Routes name the providers whose mapping is decided (none offline in auto).
    """
    check_mode(chosen, mode, origin)
    if offline:
        missing = [p.name for p in chosen if not p.keys]
        if missing:
            raise UsageError(
                f"--offline needs full keys, but {', '.join(missing)} pins fingerprints only",
                hint="drop --offline so the live keys can be probed and matched",
            )
        routes = [] if mode == "auto" else [Route(p, p.fallback if mode == "always" else None) for p in chosen]
        return [pin for p in chosen for pin in pins_for(p)], [], [], routes
    probes = probe_all(chosen, timeout)
    verdicts = [judge(pr.provider, pr.host, pr.live) for pr in probes if pr.error is None]
    failed = [v for v in verdicts if v.problems]
    if failed:
        raise _host_key_error(failed)
    routes = [_route(p, probes, mode) for p in chosen]
    errors: list[Probe] = []
    aliases: list[NetworkError] = []
    for pr in probes:
        if pr.error is None:
            continue
        route = next(r for r in routes if r.provider is pr.provider)
        if pr.host == pr.provider.canonical and route.via is not None:
            continue  # port 22 given up for the fallback: reported as the route's reason
        needed = pr.host == pr.provider.canonical or (mode == "always" and pr.host == pr.provider.fallback)
        if needed:
            errors.append(pr)
        else:
            aliases.append(pr.error)
    if errors:
        raise _network_error(errors, mode)
    pins: list[Pin] = []
    for p in chosen:
        accepted = [k for v in verdicts if v.provider is p for k in v.accepted]
        pins.extend(pins_for(p, accepted))
    return pins, verdicts, aliases, routes


def _error_of(probes: Sequence[Probe], provider: Provider, host: Host) -> NetworkError | None:
    return next((pr.error for pr in probes if pr.provider is provider and pr.host == host), None)


def _route(p: Provider, probes: Sequence[Probe], mode: str) -> Route:
    if p.fallback is None or mode == "never":
        return Route(p, None)
    fallback_ok = _error_of(probes, p, p.fallback) is None
    canonical_error = _error_of(probes, p, p.canonical)
    if mode == "always":
        return Route(p, p.fallback if fallback_ok else None)
    if canonical_error is not None and fallback_ok:
        return Route(p, p.fallback, canonical_error.message)
    return Route(p, None)


def _network_error(failed: Sequence[Probe], mode: str) -> NetworkError:
    hints = ["check the network (and any proxy or firewall on port 22/443); "
             "--offline writes the pinned keys without probing"]
    blocked = [pr.provider for pr in failed if pr.host == pr.provider.canonical]
    if any(p.fallback is None for p in blocked):
        names = ", ".join(sorted({p.title for p in blocked if p.fallback is None}))
        hints.append(f"if this network lets only HTTPS out, SSH is not reachable from it for {names}: "
                     "clone over HTTPS instead (docs/clone.md, \"When port 22 is blocked\")")
    if mode == "never" and any(p.fallback is not None for p in blocked):
        hints.append("--ssh-over-443 auto would try the provider's fallback endpoint on port 443")
    return NetworkError("; ".join(pr.error.message for pr in failed if pr.error is not None), hint="; ".join(hints))


def _host_key_error(failed: Sequence[Verdict]) -> HostKeyError:
    lines: list[str] = []
    for v in failed:
        lines.extend(v.problems)
        if v.attack:
            lines.append(f"  received: {', '.join(v.received) or 'nothing'}")
            lines.append(f"  expected: {', '.join(sorted(v.provider.fingerprints))}")
    attack = any(v.attack for v in failed)
    docs = sorted({v.provider.docs_url for v in failed if v.provider.docs_url})
    hint = "known_hosts was not changed."
    if attack:
        hint = (
            "possible man-in-the-middle, or the provider rotated its key: compare with "
            + (", ".join(docs) if docs else "the provider's published fingerprints")
            + ". known_hosts was not changed."
        )
    return HostKeyError("host key verification failed:\n" + "\n".join(lines), hint=hint)
