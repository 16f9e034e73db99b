"""The managed ssh config block, judged by real `ssh -G`: it changes the meaning of no other line."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.sshconf import effective, values

from onboarding import sshconfig
from onboarding.errors import UsageError

PROVIDER_HOSTS = ["github.com", "ssh.github.com"]
# Hosts the block must not touch: named in the corpus, matched by its wildcards, or nowhere.
UNRELATED = ["example.org", "bastion", "build", "db.corp.example", "gitlab.com", "10.1.2.3"]

# Real-world shapes: top-level options first (they apply to every host), Include, Match,
# `Host *`, a harmless `Match exec`, a file ending inside a block without a newline.
CORPUS = {
    "top-level-options": (
        "StrictHostKeyChecking yes\nUser deploy\nServerAliveInterval 30\n"
        "Host bastion\n    HostName 10.0.0.1\n    User jump\n"
    ),
    "top-level-include": (
        "Include {inc}\nForwardAgent no\nCompression yes\n"
        "Host *.corp.example\n    ProxyJump bastion\n"
    ),
    "host-star-first": (
        "Host *\n    ServerAliveInterval 60\n    AddKeysToAgent yes\n    IdentityFile ~/.ssh/id_work\n"
        "Host build\n    User ci\n    Port 2200\n"
    ),
    "match-blocks": (
        "ConnectTimeout 7\n"
        'Match exec "true" host build\n    User from-exec\n'
        "Match host *.corp.example\n    Port 2222\n"
        "Match all\n    LogLevel QUIET\n"
    ),
    "provider-already-configured": (
        "Host github.com\n    User me\n    IdentityFile ~/.ssh/id_github\n    IdentitiesOnly no\n"
        "Host *\n    User everyone\n"
    ),
    "ends-inside-a-block-without-newline": "Host build\n    User ci\n    Port 2201",
    "include-inside-a-host": "Host build\n    Include {inc}\nServerAliveCountMax 5\n",
    "empty": "",
    "comments-only": "# my config\n\n",
}
INCLUDED = "User from-include\nHost db.corp.example\n    Port 5022\n"


def update(config: Path, hosts: list[str], key: Path, home: Path) -> bool:
    """What clone does for a provider's hosts and the key (the managed block's one entry point)."""
    return sshconfig.update(config, "github", hosts, None, **sshconfig.key_change(key, home))


def merge(data: bytes, hosts: list[str], key: Path, home: Path) -> bytes:
    return sshconfig.merge(data, "github", hosts, **sshconfig.key_change(key, home))


def write_corpus(tmp_path: Path, name: str) -> Path:
    inc = tmp_path / "included.conf"
    inc.write_text(INCLUDED)
    config = tmp_path / "home" / ".ssh" / "config"
    config.parent.mkdir(mode=0o700, exist_ok=True)
    config.write_text(CORPUS[name].format(inc=inc))
    return config


def defaults(where: Path) -> list[str]:
    empty = where / "empty.conf"
    empty.write_text("")
    return values(effective(empty, "example.org"), "identityfile")


def check_meaning_kept(config: Path, before: dict[str, list[tuple[str, str]]], key: Path) -> None:
    for host in UNRELATED:
        assert effective(config, host) == before[host], host
    for host in PROVIDER_HOSTS:
        after = effective(config, host)
        had = values(before[host], "identityfile")
        if had == defaults(config.parent):
            had = []  # nothing configured: ssh -G lists its defaults, which any IdentityFile replaces
        assert values(after, "identityfile") == [*had, str(key)]
        # Every other option the user had for the provider host keeps its value (first wins).
        changed = {k for k, v in before[host] if (k, v) not in after} - {"identityfile", "identitiesonly"}
        assert not changed, changed


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_block_changes_no_other_line_by_real_ssh(tmp_path: Path, home: Path, name: str) -> None:
    config = write_corpus(tmp_path, name)
    key = tmp_path / "keys" / "work_rsa"  # outside home: written as an absolute path
    before = {h: effective(config, h) for h in UNRELATED + PROVIDER_HOSTS}
    original = config.read_bytes()

    assert update(config, PROVIDER_HOSTS, key, home)
    assert config.read_bytes().startswith(original)  # the user's bytes come first, untouched
    check_meaning_kept(config, before, key)
    written = config.read_bytes()
    assert not update(config, PROVIDER_HOSTS, key, home)  # a rerun changes no byte
    assert config.read_bytes() == written


def test_user_lines_appended_after_the_block_apply_to_every_host(tmp_path: Path, home: Path) -> None:
    config = write_corpus(tmp_path, "top-level-options")
    key = tmp_path / "k"
    update(config, PROVIDER_HOSTS, key, home)
    with config.open("a") as fh:
        fh.write("Host *\n    ServerAliveCountMax 9\n")  # what `cat >> ~/.ssh/config` does
    assert values(effective(config, "example.org"), "serveralivecountmax") == ["9"]
    sshconfig.update(config, "gitlab", ["gitlab.com"], None, key=str(key))  # rewritten in place, after kept
    assert values(effective(config, "example.org"), "serveralivecountmax") == ["9"]
    assert str(key) in values(effective(config, "gitlab.com"), "identityfile")


def old_block(hosts: list[str], key: str) -> bytes:
    """What the previous version wrote: first in the file, with nothing ending its scope."""
    body = f"Host {' '.join(hosts)}\n    IdentityFile {key}\n    IdentitiesOnly yes\n"
    return sshconfig.BEGIN + body.encode() + sshconfig.END


@pytest.mark.parametrize("name", ["top-level-options", "top-level-include", "empty"])
def test_old_style_block_is_migrated(tmp_path: Path, home: Path, name: str) -> None:
    config = write_corpus(tmp_path, name)
    key = tmp_path / "keys" / "work_rsa"
    before = {h: effective(config, h) for h in UNRELATED + PROVIDER_HOSTS}
    original = config.read_bytes()
    config.write_bytes(old_block(["github.com"], str(key)) + (b"\n" + original if original else b""))

    assert update(config, ["ssh.github.com"], key, home)
    assert config.read_bytes() == merge(original, PROVIDER_HOSTS, key, home)
    check_meaning_kept(config, before, key)
    assert not update(config, PROVIDER_HOSTS, key, home)


@pytest.mark.parametrize("key", ["keys/a\nHost *", "keys/k\r", 'keys/"quoted"'])
def test_key_path_that_would_break_the_config_is_refused(tmp_path: Path, home: Path, key: str) -> None:
    config = write_corpus(tmp_path, "top-level-options")
    before = config.read_bytes()
    with pytest.raises(UsageError):
        update(config, PROVIDER_HOSTS, tmp_path / key, home)
    assert config.read_bytes() == before


def test_one_stanza_per_provider_each_feature_keeps_the_others_fields(tmp_path: Path, home: Path) -> None:
    config = write_corpus(tmp_path, "top-level-options")
    original = config.read_bytes()
    key = tmp_path / "keys" / "work_rsa"
    assert sshconfig.update(config, "github", ["github.com"], None, key=str(key))
    assert sshconfig.update(config, "github", ["github.com"], None, hostname="ssh.github.com", port=443)
    assert sshconfig.update(config, "gitlab", ["gitlab.com"], None, agent="~/.ssh/agent/onboard.sock", add_keys="yes")
    assert not sshconfig.update(config, "github", ["github.com"], None, hostname="ssh.github.com", port=443)
    github = effective(config, "github.com")
    assert values(github, "hostname") == ["ssh.github.com"]
    assert values(github, "port") == ["443"]
    assert values(github, "identityfile") == [str(key)]  # set by the first feature, kept by the second
    agent = values(effective(config, "gitlab.com"), "identityagent")
    assert len(agent) == 1 and agent[0].endswith("/.ssh/agent/onboard.sock")  # ssh expands ~ from passwd
    assert values(effective(config, "gitlab.com"), "port") == ["22"]
    assert [s.name for s in sshconfig.read(config.read_bytes())] == ["github", "gitlab"]
    # Each feature takes back its own fields; with nothing left, the file is the user's again.
    sshconfig.update(config, "github", ["github.com"], None, hostname=None, port=None)
    assert values(effective(config, "github.com"), "port") == ["22"]
    sshconfig.update(config, "github", ["github.com"], None, key=None)
    sshconfig.update(config, "gitlab", ["gitlab.com"], None, agent=None, add_keys=None)
    assert config.read_bytes() == original


def test_stanzas_read_back_as_written() -> None:
    stanzas = [sshconfig.Stanza("github", ("github.com", "ssh.github.com"), key="~/k k", hostname="ssh.github.com",
                                port=443, agent="~/.ssh/agent/onboard.sock", add_keys="3600"),
               sshconfig.Stanza("internal", ("git.corp.example",), key="/keys/k")]
    assert sshconfig.stanzas_of(sshconfig.render(stanzas)) == stanzas


def test_a_host_moves_to_the_provider_that_names_it_last(tmp_path: Path, home: Path) -> None:
    config = write_corpus(tmp_path, "empty")
    sshconfig.update(config, "a", ["git.example", "other.example"], None, key="/k/a")
    sshconfig.update(config, "b", ["git.example"], None, key="/k/b")
    assert values(effective(config, "git.example"), "identityfile") == ["/k/b"]
    assert values(effective(config, "other.example"), "identityfile") == ["/k/a"]


def test_an_agent_socket_that_would_break_the_config_is_refused(tmp_path: Path, home: Path) -> None:
    config = write_corpus(tmp_path, "empty")
    with pytest.raises(UsageError, match="double quote"):
        sshconfig.update(config, "github", ["github.com"], None, agent='/s/"x"')
    assert config.read_bytes() == b""
