"""`onboard doctor` on the real binary: default providers, --auth-test with a passphrase key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.run import onboard
from helpers.sshd import Sshd

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


PW = "team setup passphrase"


def test_doctor_on_a_good_home(home: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    assert onboard("keygen", "-y", "--passphrase-file", str(pw), "--key-type", "ed25519").returncode == 0
    assert onboard("hosts", "verify", "github", "gitlab", "--offline").returncode == 0
    r = onboard("doctor", "--providers", "github,gitlab", "--key-type", "ed25519", "--json")
    assert r.returncode == 0, r.output
    data = json.loads(r.stdout)
    assert data["ok"] and {c["status"] for c in data["checks"]} == {"pass"}


def test_doctor_on_a_broken_home_lists_each_fix(home: Path) -> None:
    assert onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").returncode == 0
    ssh = home / ".ssh"
    (ssh / "id_ed25519").chmod(0o644)
    (ssh / "known_hosts").write_text(
        "github.com ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEAq2A7hRGmdnm9tUDbO9IDSwBK6TbQa+PXYPCPy6rbTrTtw7PHkccKrpp0yVhp5HdE"
        "IcKr6pLlVDBfOLX9QUsyCOV0wzfjIJNlGEYsdlLJizHhbn2mUjvSAHQqZETYP81eFzLQNnPHt4EVVUh7VfDESU84KezmD5QlWpXLmvU31/yMf+S"
        "e8xhHTvKSCZIFImWwoG6mbUoWf9nzpIoaSjB+weqqUUmpaaasXVal72J+UX2B+2RPW3RcT0eOzQgqlJL3RKrTJvdsjE3JEAvGq3lGHSZXy28G3s"
        "kua2SmVi/w4yCE6gbODqnTWlg7+wC604ydGXA8VJiS5ap43JXiUFFAaQ==\n")
    (ssh / "config").write_text("Host *\n  NoSuchOption yes\n")
    (ssh / "config").chmod(0o666)
    r = onboard("doctor", "--providers", "github", "--key-type", "ed25519")
    assert r.returncode == 1, r.output
    for fix in ("chmod 600", "onboard hosts verify --offline", "onboard hosts verify github", "ssh-keygen -p",
                "chmod 600 " + str(ssh / "config")):
        assert fix in r.stdout, fix
    assert "nThbg6kX" in r.stdout
    assert (ssh / "id_ed25519").stat().st_mode & 0o777 == 0o644  # doctor only reads


@pytest.mark.sshd
def test_doctor_auth_test_against_sshd(sshd: Sshd, home: Path, tmp_path: Path) -> None:
    assert onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").returncode == 0
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    assert onboard("hosts", "verify", "local", "--providers-file", str(pins)).returncode == 0
    args = ("doctor", "--providers", "local", "--providers-file", str(pins), "--key-type", "ed25519", "--auth-test")
    r = onboard(*args)
    assert r.returncode == 1 and "Permission denied" in r.stdout  # not authorized yet
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    r = onboard(*args)
    assert r.returncode == 0, r.output
    assert "accepts the key" in r.stdout


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


def test_doctor_takes_no_option_that_would_change_a_key(home: Path) -> None:
    """doctor is read-only: --force, --bits, --no-passphrase are not its options (exit 2, its own help)."""
    for option in ("--force", "--no-passphrase", "--bits=4096"):
        done = onboard("doctor", option)
        assert done.returncode == 2 and "unrecognized arguments" in done.stderr, option
        assert "onboard doctor --help" in done.stderr
    assert "--force" not in onboard("doctor", "--help").stdout


def test_doctor_on_a_terminal_shows_colours_and_escapes_only_foreign_text(home: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    child = pexpect.spawn(sys.executable, ["-m", "onboarding", "doctor"], env={**env, "TERM": "xterm"},
                          dimensions=(24, 80), encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    text = child.before
    assert "\x1b[32mok\x1b[0m git" in text  # onboard's own styling reaches the terminal as styling
    assert "\\x1b[" not in text  # ... and is never shown as text


def test_styled_mark_is_kept_while_the_text_after_it_is_made_inert() -> None:
    import io

    from onboarding.console import Console

    out = io.StringIO()
    Console(stdout=out, color=True).out("branch \x1b]0;pwned\x07", mark=("ok", "green"))
    assert out.getvalue() == "\x1b[32mok\x1b[0m branch \\x1b]0;pwned\\x07\n"


def test_doctor_json_hint_does_not_point_above(home: Path) -> None:
    ran = onboard("doctor", "--json")
    doc = json.loads(ran.stdout)
    assert ran.returncode != 0  # an empty home: no key
    assert doc["error"]["hint"] == "each failed check in result.checks has its fix"
    assert all("fix" in c for c in doc["result"]["checks"])
