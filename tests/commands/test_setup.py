"""`onboard setup` unattended, on the real binary: the pre-check, reruns, git identity."""

from __future__ import annotations

from pathlib import Path

from conftest import onboard


def test_precheck_reports_every_problem_before_writing_anything(home: Path) -> None:
    done = onboard("setup", "-y", "--bits", "1024", "--kdf-rounds", "0",
                   "--repo", "https://github.com/org/app", "--repo", "git@unpinned.example:org/x.git")
    assert done.returncode == 2, done.output
    err = done.stderr
    assert "--bits 1024" in err
    assert "--kdf-rounds 0" in err  # the first bad value does not hide the next
    assert "a passphrase for" in err
    assert err.count("https://github.com/org/app") == 1  # an https repo is reported once
    assert "unpinned.example is not a pinned provider" in err
    assert not (home / ".ssh").exists()  # nothing written: no key, no known_hosts


def test_one_bad_value_elsewhere_keeps_its_own_message() -> None:
    done = onboard("keygen", "-y", "--bits", "1024", "--no-passphrase")
    assert done.returncode == 2
    assert "--bits 1024: RSA keys must have 3072 to 16384 bits" in done.stderr
    assert "4096 (the default)" in done.stderr


def test_a_bad_team_file_value_names_the_file_and_key(tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text("[setup]\nbits = 1024\n")
    done = onboard("keygen", "-y", "--no-passphrase", "--config", str(team))
    assert done.returncode == 2
    assert f"{team}: [setup] bits 1024" in done.stderr
