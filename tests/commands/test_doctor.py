"""`onboard doctor` on the real binary: default providers, --auth-test with a passphrase key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Sshd, onboard

PW = "doctor passphrase 9"


def test_default_providers_are_those_in_known_hosts(home: Path) -> None:
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase").returncode == 0
    assert onboard("hosts", "verify", "github", "--offline").returncode == 0
    done = onboard("doctor", "--key-type", "ed25519")
    assert "known-hosts:github" in done.stdout
    assert "gitlab" not in done.stdout  # a provider this person does not use is not checked
    assert done.returncode == 0, done.output


def test_team_file_providers_are_the_default(home: Path, tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text('[setup]\nproviders = ["gitlab"]\n')
    done = onboard("doctor", "--config", str(team))
    assert "known-hosts:gitlab" in done.stdout and "known-hosts:github" not in done.stdout


@pytest.mark.sshd
def test_auth_test_with_a_passphrase_key_passes_when_registered(sshd: Sshd, home: Path, tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    pw = tmp_path / "pw"
    pw.write_text(PW)
    pw.chmod(0o600)
    setup = onboard("setup", "-y", "--key-type", "ed25519", "--passphrase-file", str(pw),
                    "--providers-file", str(pins), "--providers", "local")
    assert setup.returncode == 0, setup.output
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    args = ("doctor", "--auth-test", "--key-type", "ed25519", "--providers-file", str(pins), "--providers", "local")
    done = onboard(*args, "--passphrase-file", str(pw), env={"SSH_AUTH_SOCK": str(tmp_path / "no-agent")})
    assert done.returncode == 0, done.output
    assert "accepts the key" in done.stdout
    without = onboard(*args)  # no passphrase and no terminal: says so, not "add the key again"
    assert without.returncode == 1
    assert "has a passphrase and none was given" in without.stdout
    assert "Permission denied" not in without.stdout


@pytest.mark.sshd
def test_a_team_pinned_server_without_the_team_file_points_to_config(sshd: Sshd, home: Path, tmp_path: Path) -> None:
    # a member given a team file ran `onboard --config team.toml`, then plain `onboard doctor`
    team = tmp_path / "team.toml"
    team.write_text(sshd.providers_toml("corp"))
    assert onboard("hosts", "verify", "corp", "--config", str(team)).returncode == 0
    done = onboard("doctor")
    assert "trusts no pinned provider yet" in done.stdout
    assert "--config FILE" in done.stdout
    with_team = onboard("doctor", "--config", str(team))
    assert "known-hosts:corp" in with_team.stdout
