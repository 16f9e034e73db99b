"""known_hosts after verify: no line of any form lets a non-pinned key match a pinned host.

Judged by real OpenSSH: `ssh-keygen -F` resolves patterns, negations and hashes exactly as
ssh does, and a real strict `ssh` to the sshd fixture must refuse a key nobody pinned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.trust import fresh_key, lines_for, plain_keys_for, ssh_reaches_auth

from onboarding import hostkeys, known_hosts
from onboarding import providers as prov

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


# -- hashing, markers and malformed names, checked against OpenSSH --------------------------
def _fp(key: str) -> str:
    from onboarding.keys import fingerprint_of_line

    return fingerprint_of_line(key)


def test_hashed_additions_are_hashed_for_real(tmp_path: Path) -> None:
    """With hashing on, the added lines name no host in clear, and OpenSSH still finds them for the host."""
    asked: list[bool] = []

    def hash_known_hosts() -> bool:
        asked.append(True)
        return True

    result = known_hosts.merge(b"", hostkeys.pins_for(GITHUB), (), hashed=hash_known_hosts)
    assert asked == [True]  # asked once, however many lines are added
    kh = tmp_path / "known_hosts"
    kh.write_bytes(result.data)
    lines = result.data.decode().splitlines()
    assert len(lines) == len(PINNED) * len(GITHUB.hosts)
    assert all(ln.startswith("|1|") for ln in lines)
    assert b"github.com" not in result.data  # a reader of the file cannot tell which hosts it trusts
    assert plain_keys_for(kh, "github.com") == PINNED  # OpenSSH computes the same HMAC
    assert plain_keys_for(kh, "gitlab.com") == set()
    # Each line has its own salt: two hashes of one name differ, yet both match it.
    first, second = known_hosts.hash_name("github.com"), known_hosts.hash_name("github.com")
    assert first != second
    assert known_hosts.parse_line(f"{first} {fresh_key()}\n".encode()).names_host("github.com")
    assert not known_hosts.parse_line(f"{first} {fresh_key()}\n".encode()).names_host("gitlab.com")


def test_nothing_to_add_asks_nothing_about_hashing() -> None:
    pinned = "".join(f"{h.pattern} {k}\n" for h in GITHUB.hosts for k in sorted(PINNED)).encode()

    def must_not_be_asked() -> bool:
        raise AssertionError("HashKnownHosts was asked although nothing is added")

    result = known_hosts.merge(pinned, hostkeys.pins_for(GITHUB), (), hashed=must_not_be_asked)
    assert not result.changed and result.data == pinned


def test_plain_additions_name_the_host() -> None:
    result = known_hosts.merge(b"", hostkeys.pins_for(GITHUB), (), hashed=False)
    assert {" ".join(ln.split()[1:]) for ln in result.data.decode().splitlines()} == PINNED
    assert all(ln.split()[0] in {h.pattern for h in GITHUB.hosts} for ln in result.data.decode().splitlines())
    assert len(result.added) == len(result.data.decode().splitlines())


def test_a_hashed_line_trusting_the_pinned_key_is_enough(tmp_path: Path) -> None:
    key = fresh_key()
    pin = known_hosts.Pin("git.corp.example", (key,), exclusive=True)
    data = f"{known_hosts.hash_name('git.corp.example')} {key}\n".encode()
    result = known_hosts.merge(data, [pin], (), hashed=False)
    assert not result.changed and result.data == data


def test_revoked_keys_go_for_every_name_but_the_users_revoked_markers_stay(tmp_path: Path) -> None:
    pinned, bad, other = fresh_key(), fresh_key(), fresh_key()
    pin = known_hosts.Pin("git.corp.example", (pinned,), exclusive=True)
    rows = [
        f"unrelated.example {bad}",                     # trusts compromised key material: goes
        f"{known_hosts.hash_name('elsewhere.example')} {bad}",
        f"@revoked git.corp.example {bad}",             # the user's own revocation: stays
        f"@revoked git.corp.example {pinned}",          # even of the pinned key: the user's decision
        f"unrelated.example {other}",
    ]
    data = ("\n".join(rows) + "\n").encode()
    result = known_hosts.merge(data, [pin], [_fp(bad)], hashed=False)
    kh = tmp_path / "known_hosts"
    kh.write_bytes(result.data)
    assert len(result.removed) == 2 and all(_fp(bad) in r for r in result.removed)
    assert plain_keys_for(kh, "unrelated.example") == {other}
    assert plain_keys_for(kh, "elsewhere.example") == set()
    text = result.data.decode()
    assert f"@revoked git.corp.example {bad}\n" in text and f"@revoked git.corp.example {pinned}\n" in text
    assert plain_keys_for(kh, "git.corp.example") == {pinned}  # the pin is added as a plain line


def test_cert_authority_lines_are_kept_and_reported_only_when_they_cover_a_pinned_host() -> None:
    ca, other_ca = fresh_key(), fresh_key()
    data = (f"@cert-authority *.corp.example {ca}\n@cert-authority *.other.example {other_ca}\n").encode()
    pin = known_hosts.Pin("git.corp.example", (fresh_key(),), exclusive=True)
    result = known_hosts.merge(data, [pin], (), hashed=False)
    assert result.data.startswith(data)  # both kept byte for byte
    assert result.cert_authorities == (f"*.corp.example {ca.split()[0]} {_fp(ca)}",)
    assert not result.removed and not result.neutralised


@pytest.mark.parametrize("name", [
    "|1|abcde|bWFj",                  # a salt that is not whole base64 (5 characters)
    "|1|c2FsdA==|bWFjx",              # a hash that is not whole base64
    "|1|c2FsdA==|bWFj|extra",         # five fields
    "|1|c2FsdA==",                    # too few
    "|2|c2FsdA==|bWFj",               # an unknown hash kind
])
def test_malformed_hashed_names_trust_nothing_and_are_left_alone(tmp_path: Path, name: str) -> None:
    other = fresh_key()
    pin = known_hosts.Pin("github.com", tuple(sorted(PINNED)), exclusive=True)
    data = f"{name} {other}\n".encode()
    kh = tmp_path / "known_hosts"
    kh.write_bytes(data)
    assert plain_keys_for(kh, "github.com") == set()  # OpenSSH does not use the line for github.com either
    result = known_hosts.merge(data, [pin], (), hashed=False)
    assert result.data.startswith(data) and not result.removed and not result.neutralised


def test_a_hashed_name_in_a_list_is_not_a_hash_of_the_host(tmp_path: Path) -> None:
    """OpenSSH reads a field that starts with |1| as one hashed name: `|1|..,github.com` matches nothing."""
    other = fresh_key()
    data = f"{known_hosts.hash_name('github.com')},github.com {other}\n".encode()
    kh = tmp_path / "known_hosts"
    kh.write_bytes(data)
    assert plain_keys_for(kh, "github.com") == set()
    assert known_hosts.field_matches(known_hosts.parse_line(data).names, "github.com") is False


def test_a_hashed_line_with_another_key_for_the_pinned_host_goes(tmp_path: Path) -> None:
    other = fresh_key()
    data = f"{known_hosts.hash_name('github.com')} {other}\n".encode()
    result = merge_github(data)
    assert len(result.removed) == 1 and "(hashed)" in result.removed[0] and _fp(other) in result.removed[0]
    kh = tmp_path / "known_hosts"
    kh.write_bytes(result.data)
    assert plain_keys_for(kh, "github.com") == PINNED


def test_an_added_line_is_never_glued_onto_a_last_line_without_newline() -> None:
    key = fresh_key()
    pin = known_hosts.Pin("git.corp.example", (key,), exclusive=True)
    result = known_hosts.merge(b"# no newline", [pin], (), hashed=False)
    assert result.data == f"# no newline\ngit.corp.example {key}\n".encode()
    assert known_hosts.merge(b"", [pin], (), hashed=False).data == f"git.corp.example {key}\n".encode()


def test_update_writes_only_on_change_and_keeps_the_files_mode(tmp_path: Path) -> None:
    key = fresh_key()
    pin = known_hosts.Pin("git.corp.example", (key,), exclusive=True)
    kh = tmp_path / "known_hosts"
    assert known_hosts.read_lines(kh) == []
    known_hosts.update(kh, [pin], (), hashed=False, owner=None)
    assert kh.stat().st_mode & 0o777 == 0o644  # a new file: ssh's default
    kh.chmod(0o600)
    ino = kh.stat().st_ino
    result = known_hosts.update(kh, [pin], (), hashed=False, owner=None)
    assert not result.changed and kh.stat().st_ino == ino  # a rerun rewrites nothing
    other = known_hosts.Pin("git.other.example", (key,), exclusive=True)
    known_hosts.update(kh, [pin, other], (), hashed=False, owner=None)
    assert kh.stat().st_mode & 0o777 == 0o600 and kh.stat().st_ino != ino  # replaced, mode kept
    assert [ln.names for ln in known_hosts.read_lines(kh)] == [("git.corp.example",), ("git.other.example",)]
    assert [ln.names for ln in known_hosts.keys_for(known_hosts.read_lines(kh), "git.other.example")] == [
        ("git.other.example",)]


def test_a_symlinked_known_hosts_is_refused(tmp_path: Path) -> None:
    from onboarding.errors import ConflictError

    target = tmp_path / "elsewhere"
    target.write_text("")
    kh = tmp_path / "known_hosts"
    kh.symlink_to(target)
    with pytest.raises(ConflictError, match="symbolic link"):
        known_hosts.update(kh, [known_hosts.Pin("h.example", (fresh_key(),), exclusive=True)], (), hashed=False,
                           owner=None)
    assert target.read_text() == ""


def test_a_hash_is_openssh_s_hmac_of_the_name_with_the_given_salt() -> None:
    import base64
    import hashlib
    import hmac

    salt = bytes(range(20))
    expected = hmac.new(salt, b"github.com", hashlib.sha1).digest()
    assert known_hosts.hash_name("github.com", salt) == (
        f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(expected).decode()}")


def test_update_with_hashing_writes_hashed_lines(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    known_hosts.update(kh, hostkeys.pins_for(GITHUB), (), hashed=True, owner=None)
    assert all(ln.startswith("|1|") for ln in kh.read_text().splitlines())
    assert plain_keys_for(kh, "github.com") == PINNED


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another account")
def test_update_for_another_account_gives_it_the_file(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    known_hosts.update(kh, hostkeys.pins_for(GITHUB), (), hashed=False, owner=(4321, 4322))
    st = os.stat(kh)
    assert (st.st_uid, st.st_gid) == (4321, 4322)


def test_lines_that_are_not_utf8_are_kept_byte_for_byte() -> None:
    """A Latin-1 comment or host name (an old file) is not a reason to fail or to change it."""
    other = fresh_key()
    data = b"# caf\xe9 server\n" + f"caf\xe9.example {other}\n".encode("latin-1")
    result = merge_github(data)
    assert result.data.startswith(data) and not result.removed and not result.neutralised


def test_commented_out_and_short_lines_are_never_entries() -> None:
    """`#github.com <revoked key>` is the user's note and `github.com ssh-rsa` (cut short) is not
    a line ssh uses: both stay byte for byte, even when they name a pinned host or a revoked key."""
    revoked = fresh_key()
    rows = [f"#github.com {revoked}", "#", "github.com ssh-ed25519", "@revoked github.com", "@cert-authority"]
    data = ("\n".join(rows) + "\n").encode()
    result = known_hosts.merge(data, hostkeys.pins_for(GITHUB), [_fp(revoked)], hashed=False)
    assert result.data.startswith(data)
    assert not result.removed and not result.neutralised and not result.cert_authorities


def test_what_merge_reports_names_each_line_as_the_user_wrote_it() -> None:
    """The report is what the user reads to know what happened to their file: exact text."""
    other = fresh_key()
    typ = other.split()[0]
    data = (f"github.com,mirror.example,gitlab.com,other.example {other}\n"
            f"{known_hosts.hash_name('github.com')} {other}\n").encode()
    pins = [known_hosts.Pin(host, tuple(sorted(PINNED)), exclusive=True) for host in ("github.com", "gitlab.com")]
    result = known_hosts.merge(data, pins, (), hashed=False)
    assert result.neutralised == (f"github.com,mirror.example,gitlab.com,other.example {typ} {_fp(other)} -> "
                                  "mirror.example,other.example (no longer for github.com, gitlab.com)",)
    assert result.removed == (f"(hashed) {typ} {_fp(other)}",)
    assert set(result.added) == {f"{h} {k.split()[0]} {_fp(k)}" for k in PINNED for h in ("github.com", "gitlab.com")}


def test_a_line_left_with_only_negations_goes() -> None:
    """`github.com,!ci.example`: without github.com it would match nothing, so it is removed, not kept."""
    other = fresh_key()
    data = f"github.com,!ci.example {other}\n".encode()
    result = merge_github(data)
    assert len(result.removed) == 1 and not result.neutralised
    assert other.encode() not in result.data
