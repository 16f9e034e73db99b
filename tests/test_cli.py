"""cli.py in-process: the command word, suggestions, usage errors, exactly one JSON document per run."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest
from helpers.cli import run

from onboarding.cli import command_of

ME = pwd.getpwuid(os.geteuid()).pw_name


@pytest.mark.parametrize(("argv", "command"), [
    ([], "setup"),
    (["-y"], "setup"),
    (["--user", "demo", "keygen"], "keygen"),  # an option's value is never the command word
    (["--user", "demo", "-y"], "setup"),
    (["--config", "clone", "doctor"], "doctor"),
    (["--repo", "git@github.com:org/app.git"], "setup"),  # a value of one of setup's options
    (["--json", "git-info", "."], "git-info"),
])
def test_command_word_skips_option_values(argv: list[str], command: str) -> None:
    assert command_of(argv)[0] == command


def test_unknown_command_suggests_the_closest(home: Path) -> None:
    r = run("clon", "git@github.com:org/app.git")
    assert r.code == 2 and "unknown command 'clon'; did you mean clone?" in r.stderr


def test_unknown_user_value_is_not_taken_for_a_command(home: Path) -> None:
    r = run("--user", "demo-no-such-user", "--non-interactive")
    assert r.code == 2 and "--user demo-no-such-user: no such local user" in r.stderr
    assert "TypeError" not in r.stderr


def test_user_naming_ourselves_runs_the_command_given_after_it(home: Path) -> None:
    r = run("--user", ME, "keygen", "-y", "--no-passphrase", "--key-type", "ed25519", "--json")
    assert r.code == 0, r.stderr
    assert r.json()["path"] == str(home / ".ssh" / "id_ed25519")


@pytest.mark.parametrize("argv", [
    ["--json", "keygen", "--bits", "x"],                     # argparse's own error
    ["--json", "keygen", "-y", "--bits", "1024"],            # our validation
    ["--json", "clone", "https://github.com/org/app"],       # refused URL
    ["--json", "hosts"],                                     # missing action
    ["--json", "nope"],                                      # unknown command
    ["--json", "doctor", "--providers", "github"],           # checks fail: result and envelope
    ["--json", "setup", "--repo", "git@github.com:org/app.git"],  # missing answers (no passphrase)
    ["--json", "clone", "git@github.com:org/app.git", "-y"],  # no key yet
    ["--json", "keys", "upload", "github", "-y"],            # no public key
    ["--json", "git-info", "/no/such/folder"],
    ["--json", "--user", "demo-no-such-user", "keygen"],
])
def test_every_failure_is_one_json_envelope(home: Path, argv: list[str]) -> None:
    r = run(*argv)
    doc = r.json()  # exactly one document, or json.loads fails
    assert r.code != 0 and doc["ok"] is False and doc["error"]["exit_code"] == r.code
    assert doc["error"]["message"] and isinstance(doc["result"], dict)


def test_doctor_failure_envelope_carries_its_checks(home: Path) -> None:
    doc = run("--json", "doctor", "--providers", "github").json()
    assert doc["result"]["checks"][0]["name"] == "git"


@pytest.mark.parametrize("argv", [
    ["--json", "keygen", "-y", "--no-passphrase", "--key-type", "ed25519"],
    ["--json", "hosts", "list"],
    ["--json", "hosts", "verify", "github", "--offline"],
    ["--json", "git-info", "."],
    ["--json", "demo"],
])
def test_every_success_is_one_json_document(home: Path, argv: list[str]) -> None:
    r = run(*argv)
    assert r.code == 0, r.stderr
    doc = r.json()
    assert "ok" not in doc or doc["ok"] is True


def test_json_on_a_terminal_does_not_start_the_wizard(home: Path) -> None:
    r = run("--json", tty=True)  # a terminal, but --json: no prompts, the missing answers as JSON
    doc = r.json()
    assert r.code == 2 and "cannot run unattended" in doc["error"]["message"]


def test_json_flag_after_the_command_counts_too(home: Path) -> None:
    r = run("hosts", "list", "--json")
    assert json.loads(r.stdout)["providers"]


def test_hosts_without_action_lists_the_actions(home: Path) -> None:
    r = run("hosts")
    assert r.code == 2 and "verify" in r.stderr and "list" in r.stderr


def test_doctor_and_setup_succeed_with_one_document(home: Path) -> None:
    assert run("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").code == 0
    assert run("hosts", "verify", "github", "--offline").code == 0
    doctor = run("--json", "doctor", "--providers", "github", "--key-type", "ed25519")
    assert doctor.code == 0, doctor.stderr
    assert doctor.json()["ok"] is True
    setup = run("--json", "setup", "--providers", "github", "--key-type", "ed25519", "--offline")
    assert setup.code == 0, setup.stderr
    assert setup.json()["key"]["status"] == "reused" and setup.json()["providers"] == ["github"]


def test_a_path_with_a_newline_is_refused_before_anything_is_written(home: Path) -> None:
    r = run("keygen", "-y", "--no-passphrase", "--key-file", str(home / "a\nb"))
    assert r.code == 2 and "contains a control character" in r.stderr
    assert not any(home.iterdir()) or not (home / ".ssh").exists()


HELP_COMMANDS = [[], ["setup"], ["keygen"], ["hosts"], ["hosts", "verify"], ["hosts", "list"], ["clone"],
                 ["git-info"], ["doctor"], ["keys"], ["keys", "upload"], ["keys", "list"], ["keys", "rotate"],
                 ["keys", "prune"], ["demo"]]


@pytest.mark.parametrize("words", HELP_COMMANDS, ids=lambda w: " ".join(w) or "onboard")
def test_every_help_fits_80_columns_and_every_option_says_what_it_does(words: list[str]) -> None:
    import re

    from helpers.run import onboard

    done = onboard(*words, "--help", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.output
    lines = done.stdout.splitlines()
    assert [ln for ln in lines if len(ln) > 80] == []
    # an option line with nothing after its metavar, and no indented description below, says nothing
    bare = [ln for i, ln in enumerate(lines) if re.fullmatch(r"  -[^ ]+( [^ ]+)?(, -[^ ]+( [^ ]+)?)?", ln)
            and not (i + 1 < len(lines) and lines[i + 1].startswith(" " * 20))]
    assert bare == []


def test_doctor_help_states_doctors_own_default_providers() -> None:
    from helpers.run import onboard

    done = onboard("doctor", "--help", env={"COLUMNS": "200"})
    assert "default: the team file's providers, else those already in known_hosts" in done.stdout
    assert "setup: those of the --repo URLs" not in done.stdout


def test_json_version_and_help_are_one_document_each() -> None:
    import json as _json

    from helpers.run import onboard as _onboard

    version = _onboard("--json", "--version")
    assert version.returncode == 0 and _json.loads(version.stdout) == {"version": f"onboard {__import__('onboarding').__version__}"}
    helped = _onboard("--json", "doctor", "--help")
    assert helped.returncode == 0
    assert _json.loads(helped.stdout)["help"].startswith("usage: onboard doctor")
    plain = _onboard("doctor", "--help")
    assert plain.stdout.startswith("usage: onboard doctor")


def test_an_empty_hint_is_null_in_json() -> None:
    import io
    import json as _json

    from onboarding.console import Console

    out = io.StringIO()
    Console(stdout=out, stderr=io.StringIO(), json_mode=True).fail("bad", "", 2)
    assert _json.loads(out.getvalue())["error"]["hint"] is None
