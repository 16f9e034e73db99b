"""rollout.py: every YAML loads with azure-ai-ml's own loader and says what the ARM template says."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import run
from helpers.rollout import ALICE, BOB, SCRIPT, STARTUP, make_share, snapshot, write_roster

from onboarding import rollout
from onboarding.errors import ConflictError
from onboarding.fsutil import WriteError

HAVE_SDK = importlib.util.find_spec("azure") is not None and importlib.util.find_spec("azure.ai.ml") is not None
needs_sdk = pytest.mark.skipif(not HAVE_SDK and os.environ.get("ONBOARD_REQUIRE_SDK") != "1",
                               reason="azure-ai-ml is not installed (pip install '.[sdk]'; CI installs it and "
                                      "sets ONBOARD_REQUIRE_SDK=1, so there this test cannot skip)")

EACH = re.compile(r"\[variables\('instances'\)\[copyIndex\(\)\]\.(\w+)\]\Z")
VARIABLE = re.compile(r"\[variables\('(\w+)'\)\]\Z")
NAME = "[format('{0}/{1}', parameters('workspaceName'), variables('instances')[copyIndex()].name)]"


def _arm_value(value: Any, row: dict[str, str], variables: dict[str, Any]) -> Any:
    """The template's value for one copy of the loop: the few expressions it uses, evaluated."""
    if isinstance(value, dict):
        return {k: _arm_value(v, row, variables) for k, v in value.items()}
    if not isinstance(value, str) or not value.startswith("["):
        return value
    if value.startswith("[["):
        return value[1:]
    if m := EACH.match(value):
        text = row[m[1]]
        return text[1:] if text.startswith("[[") else text
    if m := VARIABLE.match(value):
        return variables[m[1]]
    if value == NAME:
        return "WORKSPACE/" + row["name"]
    if value == "[parameters('location')]":
        return "LOCATION"
    raise AssertionError(f"an expression the test does not know: {value}")


def _resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [resource] = template["resources"]
    assert resource["type"] == "Microsoft.MachineLearningServices/workspaces/computes"
    assert resource["apiVersion"] == rollout.API_VERSION
    assert resource["copy"]["count"] == "[length(variables('instances'))]"
    variables = template["variables"]
    out = {}
    for row in variables["instances"]:
        copy = {k: _arm_value(v, row, variables) for k, v in resource.items() if k != "copy"}
        out[copy["name"].split("/", 1)[1]] = copy
    return out


@pytest.fixture
def written(home: Path, tmp_path: Path) -> tuple[Path, Any]:
    share = make_share(home)
    roster = write_roster(tmp_path / "team.csv", [ALICE, BOB])
    out = tmp_path / "rollout"
    ran = run("rollout", "--roster", str(roster), "--script", str(share.script), "--startup-script",
              str(share.startup), "--team-file", str(share.team_file), "--wheelhouse", str(share.wheelhouse),
              "--script-arg=--extras", "--script-arg", "azure", "--startup-arg=--offline",
              "--timeout-minutes", "20", "--out", str(out), "--json")
    assert ran.code == 0, ran.output
    return out, share


@needs_sdk
@pytest.mark.filterwarnings("ignore")  # marshmallow's deprecations inside azure-ai-ml, not ours
def test_every_yaml_loads_with_the_sdk_and_matches_its_arm_resource(written: tuple[Path, Any]) -> None:
    from azure.ai.ml import load_compute

    out, share = written
    template = json.loads((out / "azuredeploy.json").read_text())
    resources = _resources(template)
    ymls = sorted(out.glob("*.yml"))
    assert [p.stem for p in ymls] == sorted(resources) == ["ci-alice", "ci-bob"]
    for yml in ymls:
        compute = load_compute(yml)  # (`identity` is an "experimental field" to azure-ai-ml: a warning)
        rest = compute._to_rest_object().as_dict()
        arm = resources[compute.name]
        assert arm["name"] == f"WORKSPACE/{compute.name}"
        assert arm["identity"] == rest["identity"] == {"type": "SystemAssigned"}
        for key in ("computeType", "disableLocalAuth"):
            assert arm["properties"][key] == rest["properties"][key]
        want, got = rest["properties"]["properties"], arm["properties"]["properties"]
        for key in ("vmSize", "personalComputeInstanceSettings", "enableRootAccess", "enableSSO"):
            assert got[key] == want[key], key
        assert want["enableRootAccess"] is False and want["enableSSO"] is False
        assert set(got["setupScripts"]["scripts"]) == set(want["setupScripts"]["scripts"]) == {
            "creationScript", "startupScript"}
        for kind, data in (("creationScript", SCRIPT), ("startupScript", STARTUP)):
            sdk, tpl = want["setupScripts"]["scripts"][kind], got["setupScripts"]["scripts"][kind]
            assert tpl["scriptArguments"] == sdk["scriptArguments"]
            assert tpl["timeout"] == sdk["timeout"] == "20m"
            # the source differs on purpose: the share path (YAML) against the bytes inline (template)
            assert (sdk["scriptSource"], tpl["scriptSource"]) == ("workspaceStorage", "inline")
            assert base64.b64decode(tpl["scriptData"]) == data == (share.root / sdk["scriptData"]).read_bytes()
            assert sdk["scriptData"].startswith("Users/admin/onboard setup/")


def test_the_rows_say_what_the_roster_says(written: tuple[Path, Any]) -> None:
    out, _share = written
    resources = _resources(json.loads((out / "azuredeploy.json").read_text()))
    bob = resources["ci-bob"]["properties"]["properties"]
    assert bob["vmSize"] == "Standard_E4-2ds_v4"
    assert bob["personalComputeInstanceSettings"]["assignedUser"]["objectId"] == BOB[1]
    assert resources["ci-alice"]["properties"]["properties"]["vmSize"] == "Standard_DS3_v2"
    alice_start = resources["ci-alice"]["properties"]["properties"]["setupScripts"]["scripts"]["startupScript"]
    assert alice_start["scriptArguments"].endswith("--offline --passphrase-keyvault kv-alice/ssh-passphrase")
    assert "--passphrase-keyvault" not in bob["setupScripts"]["scripts"]["startupScript"]["scriptArguments"]


def test_the_arguments_pin_the_inputs_by_digest_at_their_place_on_the_instance(written: tuple[Path, Any]) -> None:
    import hashlib
    import shlex

    out, share = written
    text = (out / "ci-alice.yml").read_text()
    command = json.loads(re.search(r"^    command: (.*)$", text, re.M)[1])  # type: ignore[index]
    args = shlex.split(command)
    mount = "/home/azureuser/cloudfiles/code/Users/admin/onboard setup"
    assert args[:8] == [
        "--source", f"wheelhouse:{mount}/wheelhouse",
        "--requirements-sha256", hashlib.sha256((share.wheelhouse / "requirements.txt").read_bytes()).hexdigest(),
        "--team-file", f"{mount}/team.toml",
        "--team-file-sha256", hashlib.sha256(share.team_file.read_bytes()).hexdigest(),
    ]
    assert args[8:] == ["--extras", "azure"]


def test_share_path_is_relative_to_the_mount_and_refuses_what_is_outside(tmp_path: Path) -> None:
    root = tmp_path / "code"
    (root / "Users" / "a").mkdir(parents=True)
    (root / "Users" / "a" / "s.sh").write_text("x")
    (tmp_path / "outside.sh").write_text("x")
    (root / "Users" / "a" / "link.sh").symlink_to(tmp_path / "outside.sh")
    assert rollout.share_path(root / "Users" / "a" / "s.sh", root) == "Users/a/s.sh"
    assert rollout.share_path(root / "Users" / ".." / "Users" / "a" / "s.sh", root) == "Users/a/s.sh"
    assert rollout.share_path(tmp_path / "outside.sh", root) is None
    assert rollout.share_path(root / "Users" / "a" / "link.sh", root) is None  # a link out of the share
    assert rollout.share_path(root, root) is None
    assert rollout.share_path(tmp_path / "code-other" / "s.sh", root) is None  # a sibling with the same prefix


def test_write_set_is_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {"a.yml": b"a\n", "b.yml": b"b\n", "README.md": b"r\n"}
    assert rollout.write_set(out, files).status == "written"
    assert snapshot(out) == {"README.md": b"r\n", "a.yml": b"a\n", "b.yml": b"b\n"}
    again = rollout.write_set(out, files)
    assert (again.status, again.written) == ("unchanged", ())
    (out / "a.yml").unlink()
    assert rollout.write_set(out, files).written == ("a.yml",)  # a missing one is written, the rest kept
    before = snapshot(out)
    with pytest.raises(ConflictError, match=r"other versions of b\.yml; nothing was written"):
        rollout.write_set(out, {**files, "b.yml": b"changed\n", "c.yml": b"c\n"})
    assert snapshot(out) == before


def test_write_set_refuses_a_link_or_folder_where_a_file_goes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere").write_bytes(b"x")
    (out / "README.md").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConflictError, match="symbolic link"):
        rollout.write_set(out, {"a.yml": b"a", "README.md": b"r"})
    assert sorted(p.name for p in out.iterdir()) == ["README.md"]
    assert (tmp_path / "elsewhere").read_bytes() == b"x"


def test_yaml_strings_are_quoted_whatever_they_hold() -> None:
    assert rollout._q('a: b # "c"\n') == '"a: b # \\"c\\"\\n"'
    assert rollout._q("yes") == '"yes"'
    assert rollout._arm_literal("[x]") == "[[x]" and rollout._arm_literal("x[") == "x["


def test_a_failure_half_way_leaves_nothing_of_this_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    real_link, calls = os.link, []

    def link_then_fail(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_then_fail)
    with pytest.raises(WriteError, match=r"cannot write .*b\.yml: No space left on device"):
        rollout.write_set(out, {"a.yml": b"a", "b.yml": b"b", "c.yml": b"c"})
    assert len(calls) == 2
    assert not out.exists()  # the folder it made is gone too: no file, no temp file left


def test_an_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("mine")
    with pytest.raises(ConflictError, match="exists and is not a folder"):
        rollout.write_set(tmp_path / "out", {"a.yml": b"a"})
    assert (tmp_path / "out").read_text() == "mine"
