"""known_hosts after verify: no line of any form lets a non-pinned key match a pinned host.

Judged by real OpenSSH: `ssh-keygen -F` resolves patterns, negations and hashes exactly as
ssh does, and a real strict `ssh` to the sshd fixture must refuse a key nobody pinned.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from onboarding import hostkeys, known_hosts
from onboarding import providers as prov
from tests.helpers.trust import fresh_key, lines_for, plain_keys_for, ssh_reaches_auth

GITHUB = prov.builtin()["github"]
PINNED = {k.text for k in GITHUB.keys}


def planted(others: list[str]) -> bytes:
    """Every shape of line that could make ssh trust another key for github.com."""
    o = others
    rows = [
        "# my notes stay",
        f"github.com {o[0]}",                                  # exact
        f"GitHub.COM {o[1]}",                                  # case: ssh folds it
        f"{known_hosts.hash_name('github.com')} {o[2]}",       # hashed
        f"github.com,140.82.121.4 {o[3]}",                     # multi-host: split, the IP keeps it
        f"*.com {o[4]}",                                       # wildcard: example.com keeps it
        f"gith?b.com,[ssh.github.*]:* {o[5]}",                 # ? and * (the :443 alias too)
        f"[ssh.github.com]:443 {o[6]}",                        # bracketed alias
        f"!github.com,* {o[7]}",                               # negated for github.com, not for the alias
        f"@revoked github.com {o[8]}",                         # the user's decision: kept
        f"@cert-authority *.github.com,github.com {o[9]}",     # kept and reported
        f"{known_hosts.hash_name('example.org')} {o[10]}",     # unrelated
        f"github.com {GITHUB.keys[0].text}",                   # already pinned: kept
    ]
    return ("\n".join(rows) + "\n").encode()


def merge_github(data: bytes) -> known_hosts.MergeResult:
    return known_hosts.merge(data, hostkeys.pins_for(GITHUB), GITHUB.revoked, hashed=False)


def test_every_form_of_line_is_judged_by_ssh_keygen(tmp_path: Path) -> None:
    others = [fresh_key("ed25519" if i % 2 else "ecdsa") for i in range(11)]
    kh = tmp_path / "known_hosts"
    kh.write_bytes(planted(others))
    assert plain_keys_for(kh, "github.com") - PINNED  # the planted lines really are trusted

    result = merge_github(kh.read_bytes())
    kh.write_bytes(result.data)
    for host in ("github.com", "GITHUB.com", "[ssh.github.com]:443"):
        assert plain_keys_for(kh, host) <= PINNED, host
    # Other hosts keep their trust: split and negated lines still serve them.
    assert plain_keys_for(kh, "140.82.121.4") == {others[3], others[7]}
    assert plain_keys_for(kh, "example.com") == {others[4], others[7]}
    assert plain_keys_for(kh, "githab.com") == {others[4], others[5], others[7]}
    assert plain_keys_for(kh, "[ssh.github.io]:22") == {others[5], others[7]}
    assert plain_keys_for(kh, "example.org") == {others[7], others[10]}
    # Markers are the user's: @revoked always stays, a covering @cert-authority stays and is reported.
    markers = [ln for ln in lines_for(kh, "github.com") if ln.startswith("@")]
    assert markers == [f"@revoked github.com {others[8]}", f"@cert-authority *.github.com,github.com {others[9]}"]
    assert len(result.cert_authorities) == 1 and "*.github.com" in result.cert_authorities[0]
    assert len(result.removed) == 4 and len(result.neutralised) == 4
    assert b"# my notes stay\n" in result.data
    assert not merge_github(result.data).changed  # a rerun changes nothing


def test_split_keeps_the_rest_of_the_line_byte_for_byte() -> None:
    other = fresh_key()
    data = f"  github.com,mirror.example\t{other}  my comment\r\n".encode()
    result = merge_github(data)
    assert result.data.startswith(f"  mirror.example\t{other}  my comment\r\n".encode())
    assert result.neutralised and not result.removed


def test_fingerprint_only_provider_is_exclusive_too() -> None:
    good, other = fresh_key(), fresh_key()
    from onboarding.keys import fingerprint_of_line

    table = {"hosts": ["git.corp.example"], "fingerprints": [fingerprint_of_line(good)]}
    corp = prov.parse_provider("corp", table, "team.toml")
    pins = hostkeys.pins_for(corp, accepted=[good])
    data = f"git.corp.example,git.example {other}\ngit.corp.example {good}\n".encode()
    result = known_hosts.merge(data, pins, (), hashed=False)
    assert result.data == f"git.example {other}\ngit.corp.example {good}\n".encode()


def pins_file(tmp_path: Path, port: int, key: str) -> Path:
    path = tmp_path / "pins.toml"
    path.write_text(f'[providers.local]\nhosts = ["[127.0.0.1]:{port}"]\nkeys = ["{key}"]\n')
    return path


@pytest.mark.sshd
@pytest.mark.parametrize("shape", ["wildcard", "multi-host", "hashed", "exact"])
def test_team_file_provider_a_server_with_another_key_is_refused_by_real_ssh(sshd, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                           shape: str) -> None:
    host = f"[127.0.0.1]:{sshd.port}"
    real = sshd.public_key("ed25519")  # the server's key: here the attacker's, nobody pinned it
    name = {"wildcard": f"[127.0.0.?]:{sshd.port}", "multi-host": f"{host},other.example",
            "hashed": known_hosts.hash_name(host), "exact": host}[shape]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{name} {real}\n")
    assert "Permission denied" in ssh_reaches_auth(sshd.port, sshd.user, kh).stderr  # trusted before

    r = subprocess.run([sys.executable, "-m", "onboarding", "hosts", "verify", "local", "--offline", "--no-hash",
                        "--providers-file", str(pins_file(tmp_path, sshd.port, fresh_key())),
                        "--known-hosts", str(kh)], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    after = ssh_reaches_auth(sshd.port, sshd.user, kh)
    assert "Host key verification failed" in after.stderr, after.stderr
    if shape == "multi-host":
        assert plain_keys_for(kh, "other.example") == {real}  # the other host keeps its trust


def test_verify_reports_what_it_removed_narrowed_and_kept(tmp_path: Path) -> None:
    import json

    kh = tmp_path / "known_hosts"
    other = fresh_key()
    kh.write_text(f"github.com,mirror.example {other}\n@cert-authority *.com {other}\n")
    r = subprocess.run([sys.executable, "-m", "onboarding", "hosts", "verify", "github", "--offline", "--no-hash",
                        "--known-hosts", str(kh), "--json"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["neutralised"]) == 1 and "mirror.example" in doc["neutralised"][0]
    assert len(doc["cert_authorities"]) == 1 and "@cert-authority" in r.stderr
