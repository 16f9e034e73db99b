"""`onboard rollout`: a roster to files, every bad input named at once (exit 2), reruns 0 or 5."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.cli import run
from helpers.rollout import ALICE, BOB, HEADER, Share, make_share, snapshot, write_roster
from helpers.run import onboard

TENANT = ALICE[2]


def _rollout(share: Share, roster: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    ran = run("rollout", "--roster", str(roster), "--script", str(share.script), "--out", str(out), *extra)
    return ran.code, ran.stdout, ran.stderr


def _startup(share: Share) -> tuple[str, str]:
    return ("--startup-script", str(share.startup))


def test_a_roster_becomes_one_yaml_per_row_a_template_and_a_readme(home: Path, tmp_path: Path) -> None:
    share = make_share(home)  # the default --cloudfiles-root: ~/cloudfiles/code, as on an instance
    out = tmp_path / "rollout"
    code, stdout, stderr = _rollout(share, write_roster(tmp_path / "team.csv", [ALICE, BOB]), out, *_startup(share))
    assert code == 0, stderr
    assert sorted(snapshot(out)) == ["README.md", "azuredeploy.json", "ci-alice.yml", "ci-bob.yml"]
    assert f"ok {out}: wrote 4 file(s)" in stdout + stderr
    yml = (out / "ci-bob.yml").read_text()
    for line in ('name: "ci-bob"', "type: computeinstance", 'size: "Standard_E4-2ds_v4"', "  type: system_assigned",
                 "enable_root_access: false", "enable_sso: false", "    timeout_minutes: 15",
                 'path: "Users/admin/onboard setup/setup-compute-instance.sh"', f'  user_tenant_id: "{TENANT}"'):
        assert any(row.strip() == line.strip() for row in yml.splitlines()), line
    readme = (out / "README.md").read_text()
    for words in ("az deployment group create", "az ml compute create --file", "Key Vault Secrets User",
                  "No SSH public key at creation", "Single sign-on is off", "kv-alice/ssh-passphrase",
                  "apiVersion `2024-04-01`", "**in the region**"):
        assert words in readme, words
    assert str(tmp_path) not in readme + yml  # no path of the lead's machine in what they hand on


def test_rerun_identical_is_unchanged_and_different_is_exit_5_with_nothing_changed(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    roster, out = write_roster(tmp_path / "team.csv", [ALICE, BOB]), tmp_path / "rollout"
    assert _rollout(share, roster, out, *_startup(share))[0] == 0
    before = snapshot(out)
    ran = run("rollout", "--roster", str(roster), "--script", str(share.script), *_startup(share),
              "--out", str(out), "--json")
    assert ran.code == 0 and ran.json()["status"] == "unchanged" and ran.json()["written"] == []
    share.script.write_bytes(share.script.read_bytes() + b"# changed\n")
    ran = run("rollout", "--roster", str(roster), "--script", str(share.script), *_startup(share),
              "--out", str(out), "--json")
    assert ran.code == 5
    error = ran.json()["error"]
    assert error["message"] == (f"{out} already holds other versions of README.md, azuredeploy.json; "
                                "nothing was written")  # the YAML names the script by path: unchanged
    assert error["exit_code"] == 5 and "another --out DIR" in error["hint"]
    assert snapshot(out) == before


def test_a_bad_roster_lists_every_problem_and_writes_nothing(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    roster = write_roster(tmp_path / "team.csv", [
        ALICE,
        ("ci-a-name-longer-than-24-chars", *ALICE[1:]),
        ("CI-ALICE", *BOB[1:]),
        ("ci-carol", "0000-not-a-guid", TENANT, "", ""),
    ])
    out = tmp_path / "rollout"
    ran = run("rollout", "--roster", str(roster), "--script", str(share.script), *_startup(share), "--out", str(out),
              "--json")
    assert ran.code == 2
    doc = ran.json()
    assert doc["ok"] is False and doc["error"]["exit_code"] == 2
    assert doc["result"]["problems"] == [
        "team.csv line 3, column instance: 'ci-a-name-longer-than-24-chars' has 30 characters: "
        "a compute instance name has 3 to 24",
        "team.csv line 4, column instance: 'CI-ALICE' is also on line 2: each instance needs its own name",
        "team.csv line 5, column user_object_id: '0000-not-a-guid' is not a GUID (8-4-4-4-12 hexadecimal digits)",
    ]
    assert doc["error"]["message"].startswith("3 problems; nothing was written:\n  - team.csv line 3")
    assert not out.exists()


def test_a_missing_column_is_exit_2_naming_it(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    roster = write_roster(tmp_path / "team.csv", [ALICE[:2]], header=("instance", "user_object_id"))
    code, _stdout, stderr = _rollout(share, roster, tmp_path / "rollout")
    assert code == 2
    assert "team.csv line 1: missing column 'user_tenant_id'" in stderr
    assert not (tmp_path / "rollout").exists()


def test_bad_options_are_reported_with_the_roster_problems(home: Path, tmp_path: Path) -> None:
    make_share(home)
    outside = tmp_path / "setup.sh"
    outside.write_text("#!/bin/bash\n")
    roster = write_roster(tmp_path / "team.csv", [("ci-", *ALICE[1:])])  # and a keyvault ref without startup
    ran = run("rollout", "--roster", str(roster), "--script", str(outside), "--team-file", str(tmp_path / "nope"),
              "--size", "Standard DS3", "--timeout-minutes", "0", "--out", str(tmp_path / "rollout"), "--json")
    assert ran.code == 2
    problems = ran.json()["result"]["problems"]
    root = home / "cloudfiles" / "code"
    assert problems == [
        "--size 'Standard DS3' is not a VM size name (e.g. Standard_DS3_v2)",
        "team.csv line 2, column instance: 'ci-': Azure ML wants a letter somewhere after the last '-'",
        f"--script {outside} is not under the share's mount {root} (--cloudfiles-root): "
        "Azure ML can only run what is in the workspace file share",
        f"--team-file {tmp_path / 'nope'} is not under the share's mount {root} (--cloudfiles-root): "
        "Azure ML can only run what is in the workspace file share",
        "--timeout-minutes 0: choose 1 to 1440 minutes",
    ]


def test_a_keyvault_reference_needs_the_startup_script(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    code, _, stderr = _rollout(share, write_roster(tmp_path / "team.csv", [ALICE]), tmp_path / "rollout")
    assert code == 2
    assert "passphrase_keyvault references, which go to the startup script: pass --startup-script PATH" in stderr


def test_a_bad_keyvault_reference_is_named(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    roster = write_roster(tmp_path / "team.csv", [(*ALICE[:4], "http://kv.example.invalid/secrets/x")])
    code, _, stderr = _rollout(share, roster, tmp_path / "rollout", *_startup(share))
    assert code == 2
    assert "team.csv line 2, column passphrase_keyvault: a Key Vault URL must be https" in stderr


def test_missing_roster_and_script_are_named_together(home: Path, tmp_path: Path) -> None:
    ran = run("rollout", "--out", str(tmp_path / "rollout"), "--json")
    assert ran.code == 2
    assert [p.split(" is required")[0] for p in ran.json()["result"]["problems"]] == ["--roster FILE", "--script PATH"]


def test_an_unreadable_roster_and_a_script_too_large(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    share.script.write_bytes(b"#" * (256 * 1024 + 1))
    code, _, stderr = _rollout(share, tmp_path / "absent.csv", tmp_path / "rollout")
    assert code == 2
    assert f"--roster {tmp_path / 'absent.csv'}: cannot read it (No such file or directory)" in stderr
    assert f"--script {share.script} is larger than 256 KiB" in stderr


def test_the_real_binary_prints_one_json_document(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    roster = write_roster(tmp_path / "team.csv", [BOB], header=HEADER)
    result = onboard("rollout", "--roster", str(roster), "--script", str(share.script), "--out",
                     str(tmp_path / "rollout"), "--json", env={"HOME": str(home)})
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "written" and doc["instances"] == ["ci-bob"]
    assert doc["scripts"]["creation"]["share_path"] == "Users/admin/onboard setup/setup-compute-instance.sh"


def test_root_access_size_and_share_root_as_asked(home: Path, tmp_path: Path) -> None:
    share = make_share(tmp_path / "mnt")  # a share mounted elsewhere: --cloudfiles-root
    roster = tmp_path / "team.csv"  # a spreadsheet's export: a BOM and CRLF line ends
    roster.write_bytes(("\ufeff" + ",".join(HEADER[:3]) + "\r\n" + ",".join(BOB[:3]) + "\r\n").encode())
    out = tmp_path / "rollout"
    code, _, stderr = _rollout(share, roster, out, "--cloudfiles-root", str(share.root), "--size", "Standard_NC6",
                               "--enable-root-access")
    assert code == 0, stderr
    yml = (out / "ci-bob.yml").read_text()
    assert 'size: "Standard_NC6"' in yml and "enable_root_access: true" in yml and "enable_sso: false" in yml
    resource = json.loads((out / "azuredeploy.json").read_text())["resources"][0]["properties"]["properties"]
    assert resource["enableRootAccess"] is True and resource["enableSSO"] is False
    assert "startupScript" not in resource["setupScripts"]["scripts"] and "startup_script" not in yml
    assert "**Root access is on**" in (out / "README.md").read_text()


def test_an_out_folder_holding_other_files_keeps_them(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    out = tmp_path / "rollout"
    out.mkdir()
    (out / "notes.txt").write_text("the lead's own notes")
    code, _, stderr = _rollout(share, write_roster(tmp_path / "team.csv", [BOB]), out)
    assert code == 0, stderr
    assert (out / "notes.txt").read_text() == "the lead's own notes"
    assert sorted(snapshot(out)) == ["README.md", "azuredeploy.json", "ci-bob.yml", "notes.txt"]


def test_a_path_with_a_newline_is_refused_before_anything_is_read(home: Path, tmp_path: Path) -> None:
    share = make_share(home)
    roster = write_roster(tmp_path / "team\nname: evil.csv", [BOB])
    code, _, stderr = _rollout(share, roster, tmp_path / "rollout")
    assert code == 2
    assert "--roster: " in stderr and "contains a control character ('\\n')" in stderr
    assert not (tmp_path / "rollout").exists()
