"""`onboard setup` unattended, on the real binary: the pre-check, reruns, git identity."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.run import onboard
from helpers.sshd import Sshd


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


@pytest.mark.parametrize("source", [("--passphrase-env", "ONBOARD_TEST_UNSET_VAR"),
                                    ("--passphrase-file", "/nonexistent-onboard-test/pw")])
def test_precheck_names_the_passphrase_source_with_every_other_problem(home: Path, source: tuple[str, str]) -> None:
    """The pre-check stopped at the passphrase source and reported it alone (issue 22)."""
    done = onboard("setup", "-y", "--bits", "1024", *source, "--repo", "https://github.com/org/app",
                   "--json")
    assert done.returncode == 2, done.output
    message = json.loads(done.stdout)["error"]["message"]
    assert source[1] in message and "--bits 1024" in message and "https://github.com/org/app" in message, message
    assert "a passphrase for" not in message  # the source given is the problem, not a missing one
    assert not (home / ".ssh").exists()


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


def test_a_missing_prerequisite_is_exit_2_with_the_install_hint(tmp_path: Path) -> None:
    for argv in (("setup", "-y", "--no-passphrase"), ("clone", "git@github.com:org/app.git", "-y"), ("demo",)):
        done = onboard(*argv, env={"PATH": str(tmp_path)})  # no git, no ssh on PATH
        assert done.returncode == 2, (argv, done.output)
        assert "apt-get install git openssh-client" in done.stderr


def test_piped_output_says_why_there_is_no_wizard() -> None:
    done = onboard("setup")  # stdin and stdout are not a terminal: as in `onboard | tee log`
    assert done.returncode == 2
    assert "standard output is not a terminal" in done.stderr


def test_a_passphrase_file_others_can_read_is_warned_about(tmp_path: Path, home: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("a long passphrase\n")
    pw.chmod(0o644)
    done = onboard("keygen", "-y", "--key-type", "ed25519", "--passphrase-file", str(pw))
    assert done.returncode == 0, done.output
    assert f"{pw} is readable by others (mode 0644)" in done.stderr
    pw.chmod(0o600)
    quiet = onboard("keygen", "-y", "-q", "--key-type", "ed25519", "--passphrase-file", str(pw))
    assert "readable by others" not in quiet.stderr
    assert quiet.stdout.startswith("ssh-ed25519 ") and quiet.stdout.count("\n") == 1  # -q: the key line only
    assert "https://" not in quiet.stdout + quiet.stderr  # no paste list


def test_hosts_without_an_action_names_the_actions() -> None:
    done = onboard("hosts")
    assert done.returncode == 2
    assert "verify" in done.stderr and "list" in done.stderr


def _gitconfig(home: Path, key: str) -> str:

    done = subprocess.run(["git", "config", "--file", str(home / ".gitconfig"), "--get", key],
                          capture_output=True, text=True)
    return done.stdout.strip()


def test_git_identity_set_when_missing_kept_when_present(home: Path, tmp_path: Path) -> None:
    base = ("setup", "-y", "--no-passphrase", "--key-type", "ed25519", "--providers", "github", "--offline")
    first = onboard(*base, "--git-name", "Ada Lovelace", "--email", "ada@example.com")
    assert first.returncode == 0, first.output
    assert _gitconfig(home, "user.name") == "Ada Lovelace"
    assert _gitconfig(home, "user.email") == "ada@example.com"
    again = onboard(*base, env={"ONBOARD_GIT_NAME": "Someone Else"})
    assert again.returncode == 0, again.output
    assert "kept (not 'Someone Else')" in again.stderr  # reported, not written
    assert _gitconfig(home, "user.name") == "Ada Lovelace"
    forced = onboard(*base, "--git-name", "Ada King", "--git-identity-overwrite")
    assert forced.returncode == 0 and _gitconfig(home, "user.name") == "Ada King"


def test_the_default_key_comment_is_never_the_git_email(home: Path) -> None:
    done = onboard("setup", "-y", "--no-passphrase", "--key-type", "ed25519", "--providers", "github", "--offline")
    assert done.returncode == 0, done.output
    assert _gitconfig(home, "user.email") == ""  # user@host is not an address for commits
    assert "What is left:" in done.stderr and "git config --global user.email" in done.stderr


PW = "team setup passphrase"


def team_file(tmp_path: Path, sshd: Sshd, repo_url: str, extra: str = "") -> Path:
    f = tmp_path / "team.toml"
    f.write_text(
        "[setup]\n"
        'email = "member@example.com"\n'
        'key_type = "ed25519"\n'
        'providers = ["local"]\n'
        f'repos = ["{repo_url}"]\n'
        'target = "local"\n'
        f"{extra}\n"
        f"{sshd.providers_toml()}"
    )
    return f


@pytest.mark.sshd
def test_unattended_setup_from_team_file_and_safe_rerun(sshd: Sshd, bare_repo: str, home: Path,
                                                        tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    team = team_file(tmp_path, sshd, sshd.url(bare_repo))
    # first run: the key is new, so the clone fails until the key is added (exit 6, with the hint)
    r = onboard("setup", "--non-interactive", "--config", str(team), "--passphrase-file", str(pw))
    assert r.returncode == 6, r.output
    key = home / ".ssh" / "id_ed25519"
    assert "member@example.com" in Path(str(key) + ".pub").read_text()
    assert "add " in r.stderr and str(key) in r.stderr
    assert not (home / bare_repo[:-4]).exists()
    sshd.authorize(Path(str(key) + ".pub"))  # what the member does in the provider's web page
    r = onboard("setup", "--non-interactive", "--config", str(team), "--passphrase-file", str(pw), "--json")
    assert r.returncode == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["key"]["status"] == "reused" and summary["providers"] == ["local"]
    assert [c["status"] for c in summary["clones"]] == ["cloned"]
    clone = Path(summary["clones"][0]["path"])
    assert clone == home / bare_repo[:-4] and (clone / "README.md").exists()
    snapshot = {p: p.read_bytes() for p in (key, home / ".ssh" / "known_hosts")}
    # rerun: key reused, known_hosts gains nothing, the clone is kept
    r = onboard("setup", "--non-interactive", "--config", str(team), "--passphrase-file", str(pw), "--json")
    assert r.returncode == 0, r.output
    assert [c["status"] for c in json.loads(r.stdout)["clones"]] == ["exists"]
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert PW not in r.output


def test_all_missing_answers_reported_together(home: Path, tmp_path: Path) -> None:
    r = onboard("setup", "--non-interactive", "--providers", "github,nope", "--repo", "https://github.com/o/r",
                "--repo", "git@github.com:o/ok.git", "--target", "cloudfiles",
                "--cloudfiles-root", str(tmp_path / "missing"))
    assert r.returncode == 2, r.output
    for part in ("a passphrase for", "unknown provider 'nope'", "clones over SSH", "cloudfiles share is not mounted"):
        assert part in r.stderr, part
    assert not (home / ".ssh").exists()


def test_no_terminal_and_no_flags_fails_fast_naming_them(home: Path) -> None:
    r = onboard()  # `onboard` alone is `onboard setup`; stdin is /dev/null here
    assert r.returncode == 2 and "--passphrase-file" in r.stderr
    assert not (home / ".ssh").exists()


def test_team_file_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    f = tmp_path / "team.toml"
    f.write_text('[setup]\nemial = "typo@example.com"\n')
    r = onboard("setup", "-y", "--config", str(f), "--no-passphrase")
    assert r.returncode == 2 and "'emial'" in r.stderr and str(f) in r.stderr
    f.write_text('[setup]\nemail = "x@example.com"\n[extras]\nx = 1\n')
    r = onboard("setup", "-y", "--config", str(f), "--no-passphrase")
    assert r.returncode == 2 and "'extras'" in r.stderr
    f.write_text('[setup]\nbits = "many"\n')
    r = onboard("keygen", "-y", "--config", str(f), "--no-passphrase")
    assert r.returncode == 2 and "bits" in r.stderr


def test_precedence_flags_over_env_over_file(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "team.toml"
    f.write_text('[setup]\nemail = "from-file@example.com"\nkey_type = "ed25519"\n')

    def comment(name: str, *args: str, env: dict[str, str] | None = None) -> str:
        key = tmp_path / name
        r = onboard("keygen", "-y", "--no-passphrase", "--config", str(f), "--key-file", str(key), *args, env=env)
        assert r.returncode == 0, r.output
        return Path(str(key) + ".pub").read_text().split()[-1]

    assert comment("k1") == "from-file@example.com"
    assert comment("k2", env={"ONBOARD_EMAIL": "from-env@example.com"}) == "from-env@example.com"
    assert comment("k3", "--email", "from-flag@example.com",
                   env={"ONBOARD_EMAIL": "from-env@example.com"}) == "from-flag@example.com"
    r = onboard("keygen", "-y", "--no-passphrase", "--key-file", str(tmp_path / "k4"), env={"ONBOARD_CONFIG": str(f)})
    assert r.returncode == 0 and (tmp_path / "k4.pub").read_text().startswith("ssh-ed25519 ")
    r = onboard("keygen", "-y", env={"ONBOARD_NO_PASSPHRASE": "maybe"})
    assert r.returncode == 2 and "ONBOARD_NO_PASSPHRASE" in r.stderr


def test_existing_key_without_passphrase_needs_no_passphrase_flag(home: Path) -> None:
    assert onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").returncode == 0
    r = onboard("keygen", "-y", "--key-type", "ed25519")
    assert r.returncode == 0, r.output
    assert "reused" in r.stderr and "no passphrase" in r.stderr
    r = onboard("setup", "-y", "--key-type", "ed25519", "--providers", "github", "--offline")
    assert r.returncode == 0, r.output


def test_existing_key_with_passphrase_is_a_missing_answer_unattended(home: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    assert onboard("keygen", "-y", "--passphrase-file", str(pw), "--key-type", "ed25519").returncode == 0
    r = onboard("setup", "-y", "--key-type", "ed25519", "--providers", "github", "--offline")
    assert r.returncode == 2 and "a passphrase for" in r.stderr


def test_passphrase_stdin_serves_every_step(home: Path) -> None:
    assert onboard("keygen", "-y", "--passphrase-stdin", "--key-type", "ed25519", input=PW).returncode == 0
    r = onboard("setup", "-y", "--passphrase-stdin", "--key-type", "ed25519", "--providers", "github", "--offline",
                input=PW + "\n")
    assert r.returncode == 0, r.output
    assert "key reused" in r.stderr


@pytest.mark.sshd
def test_a_failed_clone_is_in_the_summary_and_what_is_left_says_to_rerun(
        sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    done = onboard("setup", "-y", "--no-passphrase", "--key-type", "ed25519", "--providers-file", str(pins),
                   "--git-name", "N", "--email", "n@example.com", "--repo", sshd.url(bare_repo))
    assert done.returncode == 6, done.output  # the key is not added at the server yet
    summary = done.stderr.split("Summary", 1)[1]
    assert f"clone        {sshd.url(bare_repo)} (failed, exit 6" in summary
    assert "run the same command again" in summary
    assert "onboard clone git@HOST" not in summary  # the repository is known: no generic "clone one"
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    again = onboard("setup", "-y", "--no-passphrase", "--key-type", "ed25519", "--providers-file", str(pins),
                    "--repo", sshd.url(bare_repo))
    assert again.returncode == 0, again.output
    assert "(failed, exit" not in again.stderr and "(cloned, local)" in again.stderr


def test_a_missing_passphrase_is_not_sent_to_the_team_file(home: Path) -> None:
    # the hint must not suggest a place onboard refuses for a passphrase
    done = onboard("setup", "-y", "--key-type", "ed25519", "--providers", "github", "--offline")
    assert done.returncode == 2, done.output
    assert "a passphrase for" in done.stderr
    assert "a team file never holds one" in done.stderr


def test_unattended_cloudfiles_target_without_a_share_fails_the_pre_check(home: Path, tmp_path: Path) -> None:
    from helpers.run import onboard as run_onboard

    team = tmp_path / "team.toml"
    team.write_text('[setup]\ntarget = "cloudfiles"\nproviders = ["github"]\n')
    r = run_onboard("setup", "-y", "--config", str(team), "--no-passphrase", "--key-type", "ed25519", "--offline",
                    "--repo", "git@github.com:org/app.git")
    assert r.returncode == 2, r.output
    assert "the cloudfiles share is not mounted" in r.stderr and "cannot run unattended" in r.stderr
    assert not (home / ".ssh" / "id_ed25519").exists()  # said before anything was written
