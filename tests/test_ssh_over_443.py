"""SSH over the providers' HTTPS ports (issue 26): the local sshd plays the fallback endpoint, and
the canonical host is port 22 of another loopback address where nothing answers, a listener never
speaks, or an HTTP server answers. Never a real provider host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.port22 import KINDS, loopback, port22
from helpers.run import Result, onboard
from helpers.sshd import Sshd
from helpers.trust import fresh_key

from onboarding import providers as prov
from onboarding.errors import UsageError

GOOD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


# -- the provider field ---------------------------------------------------------------------
def test_github_names_its_443_endpoint_as_fallback() -> None:
    github = prov.builtin()["github"]
    assert github.fallback == prov.Host("ssh.github.com", 443)
    assert github.fallback in github.hosts  # pinned with GitHub's keys like every host
    assert prov.builtin()["azure-devops"].fallback is None


@pytest.mark.parametrize(("fallback", "message"), [
    ("[alt.example]:443", "fallback [alt.example]:443 must be one of its hosts other than the first"),
    ("x.example", "fallback x.example must be one of its hosts other than the first"),
    (443, "fallback must be a string"),
    ("[bad host]:443", "fallback: bad host"),
])
def test_a_fallback_that_is_not_another_of_its_hosts_is_refused(fallback: object, message: str) -> None:
    raw = {"hosts": ["x.example", "[alt.x.example]:443"], "keys": [GOOD_KEY], "fallback": fallback}
    with pytest.raises(UsageError) as caught:
        prov.parse_provider("internal", raw, "team.toml")
    assert str(caught.value).startswith("team.toml: provider 'internal': " + message), str(caught.value)


def test_a_fallback_is_read_in_canonical_form() -> None:
    raw = {"hosts": ["x.example", "[ALT.x.example]:443"], "keys": [GOOD_KEY], "fallback": "[Alt.X.example]:443"}
    assert prov.parse_provider("internal", raw, "team.toml").fallback == prov.Host("alt.x.example", 443)


def test_a_bad_ssh_over_443_value_is_exit_2(home: Path) -> None:
    r = onboard("hosts", "verify", "--offline", "--ssh-over-443", "sometimes")
    assert r.returncode == 2
    assert "--ssh-over-443" in r.stderr and "sometimes" in r.stderr


def test_always_for_a_provider_without_fallback_is_exit_2(home: Path) -> None:
    r = onboard("hosts", "verify", "azure-devops", "--offline", "--ssh-over-443", "always", "--json")
    assert r.returncode == 2, r.output
    doc = json.loads(r.stdout)
    assert "azure-devops has no fallback endpoint" in doc["error"]["message"]
    assert not (home / ".ssh" / "known_hosts").exists()  # refused before anything was written


def test_setup_refuses_always_without_fallback_before_writing_a_key(home: Path) -> None:
    r = onboard("setup", "-y", "--no-passphrase", "--providers", "azure-devops", "--ssh-over-443", "always")
    assert r.returncode == 2, r.output
    assert "--ssh-over-443 always: azure-devops has no fallback endpoint" in r.stderr
    assert not (home / ".ssh").exists()


def test_the_team_file_sets_ssh_over_443_and_is_named_when_it_is_wrong(home: Path, tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text('[setup]\nssh_over_443 = "always"\n')
    r = onboard("hosts", "verify", "github", "azure-devops", "--offline", "--config", str(team))
    assert r.returncode == 2, r.output
    assert "team.toml" in r.stderr and "always: azure-devops has no fallback endpoint" in r.stderr
    assert onboard("hosts", "verify", "github", "--offline", "--config", str(team), "--known-hosts",
                   str(tmp_path / "kh")).returncode == 0
    config = (home / ".ssh" / "config").read_text()  # offline + always: the mapping is written from the pins
    assert "Host github.com ssh.github.com\n    HostName ssh.github.com\n    Port 443\n" in config


# -- the canonical host's port 22 on another loopback address ---------------------------------
@pytest.fixture(params=KINDS)
def blocked22(request: pytest.FixtureRequest) -> Iterator[str]:
    """The canonical host's address, with port 22 blocked in one of three ways."""
    with port22(request.param) as addr:
        yield addr


def team_providers(sshd: Sshd, canonical: str, *, fallback: bool = True, keys: str | None = None) -> str:
    """A provider whose canonical host is `canonical`:22 and whose fallback is the local sshd."""
    pinned = keys or ", ".join(f'"{sshd.public_key(k)}"' for k in ("ed25519", "ecdsa", "rsa"))
    line = f'fallback = "[127.0.0.1]:{sshd.port}"\n' if fallback else ""
    return (f'[providers.corp]\nhosts = ["{canonical}", "[127.0.0.1]:{sshd.port}"]\n{line}'
            f'user = "{sshd.user}"\nkeys = [{pinned}]\n')


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "pins.toml"
    f.write_text(text)
    return f


@pytest.mark.sshd
def test_hosts_verify_auto_maps_a_blocked_port_22_to_the_fallback(sshd: Sshd, tmp_path: Path, home: Path,
                                                                  blocked22: str) -> None:
    pins = _write(tmp_path, team_providers(sshd, blocked22))
    r = onboard("hosts", "verify", "corp", "--providers-file", str(pins), "--timeout", "2", "--no-hash")
    assert r.returncode == 0, r.output
    assert "port 22 looks blocked here" in r.stderr
    config = (home / ".ssh" / "config").read_text()
    assert f"Host {blocked22} 127.0.0.1\n    HostName 127.0.0.1\n    Port {sshd.port}\n" in config
    again = onboard("hosts", "verify", "corp", "--providers-file", str(pins), "--timeout", "2", "--json")
    assert json.loads(again.stdout)["ssh_over_443"] == {"corp": f"[127.0.0.1]:{sshd.port}"}
    assert (home / ".ssh" / "config").read_text() == config  # a rerun changes nothing
    # never: the mapping goes, and the blocked port is exit 4 with the way out named
    r = onboard("hosts", "verify", "corp", "--providers-file", str(pins), "--timeout", "2", "--no-hash",
                "--ssh-over-443", "never")
    assert r.returncode == 4, r.output
    assert "--ssh-over-443 auto would try" in r.stderr
    assert "HostName" in (home / ".ssh" / "config").read_text()  # a failed run changes nothing


@pytest.mark.sshd
def test_a_provider_without_fallback_on_a_blocked_port_is_exit_4_naming_https(sshd: Sshd, tmp_path: Path,
                                                                             home: Path) -> None:
    pins = _write(tmp_path, team_providers(sshd, loopback(), fallback=False))
    r = onboard("hosts", "verify", "corp", "--providers-file", str(pins), "--timeout", "2", "--json")
    assert r.returncode == 4, r.output
    hint = json.loads(r.stdout)["error"]["hint"]
    assert "SSH is not reachable from it for corp" in hint and "clone over HTTPS" in hint
    assert not (home / ".ssh" / "config").exists()


def _verify(pins: Path, *extra: str) -> Result:
    return onboard("hosts", "verify", "corp", "--providers-file", str(pins), "--timeout", "2", "--no-hash", *extra)


USER_CONFIG = b"# mine\nHost *\n    ServerAliveInterval 30\n"


@pytest.mark.sshd
def test_a_reachable_port_22_writes_the_same_bytes_as_without_a_fallback(sshd: Sshd, tmp_path: Path,
                                                                        home: Path) -> None:
    config = home / ".ssh" / "config"
    config.parent.mkdir()
    config.write_bytes(USER_CONFIG)
    with port22("relay", relay_to=sshd.port) as addr:
        with_fallback = _write(tmp_path, team_providers(sshd, addr))
        assert _verify(with_fallback, "--known-hosts", str(tmp_path / "kh1")).returncode == 0
        without = tmp_path / "plain.toml"
        without.write_text(team_providers(sshd, addr, fallback=False))
        r = _verify(without, "--known-hosts", str(tmp_path / "kh2"))
        assert r.returncode == 0, r.output
    assert (tmp_path / "kh1").read_bytes() == (tmp_path / "kh2").read_bytes()
    assert config.read_bytes() == USER_CONFIG  # no mapping: the user's file byte for byte


@pytest.mark.sshd
def test_always_maps_a_reachable_host_and_never_removes_the_mapping_again(sshd: Sshd, tmp_path: Path,
                                                                         home: Path) -> None:
    config = home / ".ssh" / "config"
    config.parent.mkdir()
    config.write_bytes(USER_CONFIG)
    with port22("relay", relay_to=sshd.port) as addr:
        pins = _write(tmp_path, team_providers(sshd, addr))
        r = _verify(pins, "--ssh-over-443", "always")
        assert r.returncode == 0, r.output
        assert f"HostName 127.0.0.1\n    Port {sshd.port}\n" in config.read_text()
        # offline, auto decides nothing: the mapping stays
        assert _verify(pins, "--offline").returncode == 0
        assert f"Port {sshd.port}" in config.read_text()
        r = _verify(pins, "--ssh-over-443", "never")
        assert r.returncode == 0, r.output
        assert "the fallback mapping of corp was removed" in r.stderr
    assert config.read_bytes() == USER_CONFIG


@pytest.mark.sshd
def test_always_with_an_unreachable_fallback_is_exit_4(sshd: Sshd, tmp_path: Path, home: Path) -> None:
    with port22("relay", relay_to=sshd.port) as addr:
        dead = loopback()
        pins = _write(tmp_path, team_providers(sshd, addr).replace(f"[127.0.0.1]:{sshd.port}", f"[{dead}]:443"))
        r = _verify(pins, "--ssh-over-443", "always")
    assert r.returncode == 4, r.output
    assert f"[{dead}]:443" in r.stderr
    assert not (home / ".ssh" / "config").exists()


@pytest.mark.sshd
def test_a_fallback_with_a_key_other_than_the_pins_is_exit_3_and_touches_nothing(sshd: Sshd, tmp_path: Path,
                                                                                home: Path) -> None:
    kh = home / ".ssh" / "known_hosts"
    kh.parent.mkdir()
    kh.write_bytes(b"example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    before = kh.read_bytes()
    pins = _write(tmp_path, team_providers(sshd, loopback(), keys=f'"{fresh_key()}"'))
    r = _verify(pins)
    assert r.returncode == 3, r.output
    assert "possible man-in-the-middle" in r.stderr and f"[127.0.0.1]:{sshd.port}" in r.stderr
    assert kh.read_bytes() == before
    assert not (home / ".ssh" / "config").exists()
