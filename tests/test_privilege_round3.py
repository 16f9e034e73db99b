"""Issue 22, root's side round 3: what a member's files decide under `--user`, played with a real account.

A member's `--config` must not choose where root's token goes; the safety refusals of the system
team file and of a passphrase file hold with and without `--user` (each was once removable with
the suite staying green). Same kit as tests/test_privilege.py: helpers/attacker.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.attacker import (
    AS_AN_ACCOUNT,
    Account,
    Recorder,
    as_user,
    onboard_as_member,
    onboard_as_root,
    root_file,
    serve_recorder,
)

pytestmark = AS_AN_ACCOUNT

TOKEN = "ghp_rootsTokenForTheMembersServer7"
PIN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"




@pytest.fixture
def members_server() -> Iterator[Recorder]:
    yield from serve_recorder()


def members_file(acct: Account, name: str, text: str) -> Path:
    path = acct.home / name
    as_user(acct, f"cat > {path} <<'EOF'\n{text}\nEOF")
    return path


def _no_system_file(vault: Path) -> dict[str, str]:
    return {"ONBOARD_SYSTEM_CONFIG": str(vault / "absent-team.toml")}


# -- 1. where root's token goes ---------------------------------------------------------------------
def test_members_config_cannot_send_roots_token_to_the_members_server(user: Account, vault: Path,
                                                                      members_server: Recorder) -> None:
    team = members_file(user, "team.toml", f'[setup]\ngithub_api = "{members_server.github}"\n')
    r = onboard_as_root(user, "keys", "list", "github", "--config", str(team), "--timeout", "5",
                        env={**_no_system_file(vault), "GH_TOKEN": TOKEN})
    assert members_server.bodies == [], "the member's server received a request carrying root's token"
    assert r.returncode == 2, r.output
    assert "github_api" in r.output and "--user" in r.output, r.output
    assert TOKEN not in r.output


def test_members_provider_cannot_name_an_api_url_for_roots_token(user: Account, vault: Path,
                                                                 members_server: Recorder) -> None:
    team = members_file(user, "team.toml", f'[providers.mine]\nhosts = ["git.mine.invalid"]\nkeys = ["{PIN}"]\n'
                                           f'api = "github"\napi_url = "{members_server.github}"\n')
    r = onboard_as_root(user, "keys", "list", "mine", "--config", str(team), "--timeout", "5",
                        env={**_no_system_file(vault), "ONBOARD_MINE_TOKEN": TOKEN})
    assert members_server.bodies == []
    assert r.returncode == 2, r.output
    assert "[providers.mine] api_url" in r.output, r.output


def test_members_providers_file_cannot_name_an_api_url_for_roots_token(user: Account, vault: Path,
                                                                       members_server: Recorder) -> None:
    pins = members_file(user, "pins.toml", f'[providers.mine]\nhosts = ["git.mine.invalid"]\nkeys = ["{PIN}"]\n'
                                           f'api = "github"\napi_url = "{members_server.github}"\n')
    r = onboard_as_root(user, "keys", "list", "mine", "--providers-file", str(pins), "--timeout", "5",
                        env={**_no_system_file(vault), "ONBOARD_MINE_TOKEN": TOKEN})
    assert members_server.bodies == []
    assert r.returncode == 2, r.output
    assert "api_url" in r.output, r.output


def test_the_same_address_in_the_members_config_is_fine(user: Account, vault: Path,
                                                        members_server: Recorder) -> None:
    """Root chose the address (its environment); the member's file repeating it changes nothing."""
    team = members_file(user, "team.toml", f'[setup]\ngithub_api = "{members_server.github}"\n')
    r = onboard_as_root(user, "keys", "list", "github", "--config", str(team), "--timeout", "5",
                        env={**_no_system_file(vault), "GH_TOKEN": TOKEN,
                             "ONBOARD_GITHUB_API": members_server.github})
    assert r.returncode == 0, r.output
    assert members_server.bodies, "the list never reached the API root chose"


def test_the_system_team_file_chooses_the_address_under_user(user: Account, vault: Path,
                                                             members_server: Recorder) -> None:
    system = root_file(vault / "team.toml", f'[setup]\ngithub_api = "{members_server.github}"\n')
    r = onboard_as_root(user, "keys", "list", "github", "--timeout", "5",
                        env={"ONBOARD_SYSTEM_CONFIG": str(system), "GH_TOKEN": TOKEN})
    assert r.returncode == 0, r.output
    assert members_server.bodies


# -- 6. the size limit of the system team file ------------------------------------------------------
def test_an_oversized_system_team_file_is_refused_on_both_sides_of_user(user: Account, vault: Path) -> None:
    """Refused when the member ran onboard, but truncated to its first MiB and accepted under --user."""
    text = '[setup]\nkey_type = "ed25519"\n' + "# padding\n" * 110_000  # > 1 MiB of valid TOML
    system = root_file(vault / "team.toml", text)
    env = {"ONBOARD_SYSTEM_CONFIG": str(system)}
    member = onboard_as_member(user, "hosts", "list", env=env)
    assert member.returncode == 2 and "larger than" in member.output, member.output
    r = onboard_as_root(user, "hosts", "list", env=env)
    assert r.returncode == 2 and "larger than" in r.output, r.output


# -- 10. refusals that must not go unnoticed if removed ---------------------------------------------
def _both_ways(user: Account, args: tuple[str, ...], env: dict[str, str]) -> list[tuple[str, int, str]]:
    member = onboard_as_member(user, *args, env=env)
    root = onboard_as_root(user, *args, env=env)
    return [("the member", member.returncode, member.output), ("root --user", root.returncode, root.output)]


@pytest.mark.parametrize("how", ["group-writable", "the member's"])
def test_an_unsafe_system_team_file_is_refused_with_and_without_user(user: Account, vault: Path, how: str) -> None:
    system = root_file(vault / "team.toml", '[setup]\nkey_type = "ed25519"\n',
                       mode=0o664 if how == "group-writable" else 0o644)
    if how == "the member's":
        os.chown(system, user.uid, user.gid)
    for who, code, output in _both_ways(user, ("hosts", "list"), {"ONBOARD_SYSTEM_CONFIG": str(system)}):
        assert code == 2, f"{who}: {output}"
        assert "refusing a system team file" in output, f"{who}: {output}"


@pytest.mark.parametrize("owner", ["member", "root"])
def test_a_group_writable_passphrase_file_is_refused_with_and_without_user(user: Account, vault: Path,
                                                                           owner: str) -> None:
    if owner == "member":
        pw = user.home / "pw"
        as_user(user, f"echo 'pp-chosen-by-another' > {pw} && chmod 660 {pw}")
    else:
        pw = root_file(vault / "pw", "pp-chosen-by-another\n", mode=0o664)
    key = user.home / ".ssh" / "id_ed25519"
    args = ("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pw))
    for who, code, output in _both_ways(user, args, {"ONBOARD_SYSTEM_CONFIG": str(vault / "absent.toml")}):
        assert code == 2, f"{who}: {output}"
        assert "can be written by others" in output, f"{who}: {output}"
        assert not key.exists(), f"{who} made a key with a passphrase others could choose"


def test_a_private_passphrase_file_still_works(user: Account, vault: Path) -> None:
    pw = user.home / "pw"
    as_user(user, f"echo 'pp-only-mine-1' > {pw} && chmod 600 {pw}")
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pw),
                        env={"ONBOARD_SYSTEM_CONFIG": str(vault / "absent.toml")})
    assert r.returncode == 0, r.output
    assert (user.home / ".ssh" / "id_ed25519").exists()


# -- 9. the pre-check under --user ------------------------------------------------------------------
def test_the_precheck_names_every_problem_under_user(user: Account, vault: Path) -> None:
    r = onboard_as_root(user, "setup", "-y", "--bits", "1024", "--passphrase-env", "ONBOARD_TEST_UNSET_VAR",
                        "--repo", "https://github.com/org/app", env={"ONBOARD_SYSTEM_CONFIG": str(vault / "absent")})
    assert r.returncode == 2, r.output
    for named in ("ONBOARD_TEST_UNSET_VAR", "--bits 1024", "https://github.com/org/app"):
        assert named in r.stderr, r.output
    assert r.stderr.count("ONBOARD_TEST_UNSET_VAR: that variable is not set") == 1, r.output
    assert not (user.home / ".ssh" / "id_rsa").exists()


def test_a_members_providers_file_unreadable_at_the_check_is_refused(user: Account, vault: Path,
                                                                     members_server: Recorder) -> None:
    """Skipped when unreadable, it could be made readable (with an api_url) before the catalogue reads it."""
    pins = members_file(user, "pins.toml", f'[providers.mine]\nhosts = ["git.mine.invalid"]\nkeys = ["{PIN}"]\n'
                                           f'api = "github"\napi_url = "{members_server.github}"\n')
    as_user(user, f"chmod 000 {pins}")
    r = onboard_as_root(user, "keys", "list", "mine", "--providers-file", str(pins), "--timeout", "5",
                        env={**_no_system_file(vault), "ONBOARD_MINE_TOKEN": TOKEN})
    assert r.returncode == 2, r.output
    assert "cannot read --providers-file" in r.output, r.output
    assert members_server.bodies == []


def test_members_config_cannot_send_roots_key_vault_token_either(user: Account, vault: Path,
                                                                members_server: Recorder) -> None:
    """The same attack with the token read from Key Vault by root (--token-keyvault)."""
    pytest.importorskip("azure.keyvault.secrets", reason="the extra is not installed: pip install '.[azure]'")
    from helpers import fake_azure

    team = members_file(user, "team.toml", f'[setup]\ngithub_api = "{members_server.github}"\n')
    kv = fake_azure.FakeAzure(secrets={"github-token": TOKEN})
    (vault / "azure").mkdir()
    with fake_azure.running(vault / "azure", kv) as azure:
        r = onboard_as_root(user, "keys", "list", "github", "--config", str(team), "--timeout", "5",
                            "--token-keyvault", "github=https://kv-root.vault.azure.net/secrets/github-token",
                            env={**_no_system_file(vault), **azure.env()})
    assert members_server.bodies == [], "the member's server received a request carrying root's Key Vault token"
    assert r.returncode == 2, r.output
    assert "github_api" in r.output and TOKEN not in r.output
    assert any(s.path.startswith("/secrets/github-token") for s in kv.seen), "root never read the token: nothing tried"
