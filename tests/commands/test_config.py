"""`onboard config check FILE`: a team file judged before a setup script installs it."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.run import onboard

GITHUB_ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(text)
    return path


def test_every_problem_is_named_at_once_with_the_file_and_key(tmp_path: Path) -> None:
    team = write(tmp_path, '[setup]\ntarget = "cloudfile"\nbits = 1024\ncolour = "blue"\n'
                           'providers = ["github", "nosuch"]\n[extra]\nx = 1\n')
    ran = onboard("config", "check", str(team))
    assert ran.returncode == 2, ran.output
    for said in (f"{team}: unknown key 'colour' in [setup]", f"{team}: [setup] bits 1024",
                 f"{team}: [setup] target must be local or cloudfiles, not 'cloudfile'",
                 f"{team}: [setup] names the unknown provider 'nosuch'", f"{team}: unknown table or key 'extra'"):
        assert said in ran.stderr, said
    assert "5 problems" in ran.stderr


def test_json_is_one_document_listing_the_problems(tmp_path: Path) -> None:
    team = write(tmp_path, '[setup]\ntarget = "cloudfile"\n[providers.internal]\nhosts = ["git.corp.invalid"]\n')
    ran = onboard("config", "check", str(team), "--json")
    assert ran.returncode == 2
    doc = json.loads(ran.stdout)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 2
    assert len(doc["result"]["problems"]) == 2  # the target, and a provider with neither keys nor fingerprints
    assert any("internal" in p for p in doc["result"]["problems"])


def test_fingerprint_only_pins_are_a_problem_for_offline_use(tmp_path: Path) -> None:
    team = write(tmp_path, '[setup]\nproviders = ["internal"]\n[providers.internal]\nhosts = ["git.corp.invalid"]\n'
                           'fingerprints = ["SHA256:ohD8VZEXGWo6Ez8GSEJQ9WpafgLFsOfLOtGGQCQo6Og"]\n')
    assert onboard("config", "check", str(team)).returncode == 0
    ran = onboard("config", "check", str(team), "--offline")
    assert ran.returncode == 2
    assert "[providers.internal] pins fingerprints only, and --offline needs full keys" in ran.stderr
    # `offline = true` in the file means the same
    team.write_text(team.read_text().replace("[setup]\n", "[setup]\noffline = true\n"))
    assert "needs full keys" in onboard("config", "check", str(team)).stderr


def test_a_good_file_passes_and_says_what_it_holds(tmp_path: Path) -> None:
    team = write(tmp_path, f'[setup]\nproviders = ["github", "internal"]\ntarget = "cloudfiles"\n'
                           f'[providers.internal]\nhosts = ["git.corp.invalid"]\nkeys = ["{GITHUB_ED25519}"]\n')
    ran = onboard("config", "check", str(team), "--offline", "--json")
    assert ran.returncode == 0, ran.output
    doc = json.loads(ran.stdout)
    assert doc["ok"] is True and doc["providers"] == ["internal"] and doc["offline"] is True


def test_only_the_named_file_is_judged(tmp_path: Path) -> None:
    broken_system = tmp_path / "system.toml"
    broken_system.write_text("[setup]\nnot toml at all = = =\n")
    team = write(tmp_path, '[setup]\nproviders = ["github"]\n')
    ran = onboard("config", "check", str(team), env={"ONBOARD_SYSTEM_CONFIG": str(broken_system)})
    assert ran.returncode == 0, ran.output


def test_a_file_that_is_not_toml_or_missing_is_exit_2(tmp_path: Path) -> None:
    team = write(tmp_path, "target = = 1\n")
    assert "not valid TOML" in onboard("config", "check", str(team)).stderr
    missing = onboard("config", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "not found" in missing.stderr
