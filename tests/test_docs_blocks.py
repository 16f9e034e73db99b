"""The blocks of docs/setup-scripts.md and docs/team-onboarding.md that an admin or a lead runs,
run as written (docs/setup-scripts.md, "Tested blocks").

A block is marked by `<!-- doc-test: NAME -->` on the line before its fence. It runs in a folder
that plays the script's folder on the share, with `<UPPERCASE>` placeholders replaced by what
they name, `scripts/` by this checkout's, and the script's install locations pointed at the
test's own folders and a throwaway account: nothing of this machine's /opt, /etc or real home
changes, and nothing leaves loopback (the startup run is --offline).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wheelhouse

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "docs" / "setup-scripts.md", REPO / "docs" / "team-onboarding.md"]
MARK = re.compile(r"^[ \t]*<!-- doc-test: (?P<name>[\w.-]+) -->\n[ \t]*```(?P<lang>\w*)\n(?P<body>.*?)^[ \t]*```",
                  re.M | re.S)


def blocks() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for doc in DOCS:
        for m in MARK.finditer(doc.read_text()):
            lines = m.group("body").splitlines()
            indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
            found[m.group("name")] = (m.group("lang"), "\n".join(x[indent:] for x in lines) + "\n")
    return found


BLOCKS = blocks()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def share() -> Iterator[Path]:
    """The script's folder on the share: the script, the docs' team.toml, a hashed wheelhouse."""
    base = Path(tempfile.mkdtemp(prefix="onboard-docs-"))
    base.chmod(0o755)
    folder = base / "onboard-setup"
    folder.mkdir()
    shutil.copy(REPO / "scripts" / "setup-compute-instance.sh", folder)
    lang, text = BLOCKS["team.toml"]
    assert lang == "toml"
    (folder / "team.toml").write_text(text)
    wheelhouse.build(REPO, folder / "wheelhouse")
    try:
        yield folder
    finally:
        shutil.rmtree(base, ignore_errors=True)


def onboard_bin() -> Path:
    path = Path(sys.executable).parent
    if not (path / "onboard").exists():
        pytest.skip("the onboard console script is not installed beside this Python")
    return path


def run_block(name: str, folder: Path, *, account: str | None = None, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    lang, text = BLOCKS[name]
    assert lang == "sh", name
    text = text.replace("<TEAM_SHA256>", sha(folder / "team.toml"))
    text = text.replace("<REQUIREMENTS_SHA256>", sha(folder / "wheelhouse" / "requirements.txt"))
    text = text.replace("scripts/", f"{REPO}/scripts/")
    if "setup-compute-instance.sh" in text and account:
        here = folder.parent
        places = (f"--prefix {here}/opt/onboard --link-dir {here}/bin --system-dir {here}/etc/onboard "
                  f"--user {account} --python {sys.executable} ")
        text = text.replace("sudo bash setup-compute-instance.sh ", f"bash setup-compute-instance.sh {places}")
    assert "<" not in re.sub(r"<<|<\(|< ", "", text), f"an unreplaced placeholder in {name}: {text}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONBOARD_", "CI_"))}
    env["PATH"] = f"{onboard_bin()}:{env['PATH']}"
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(["bash", "-euo", "pipefail", "-c", text], capture_output=True, text=True, cwd=folder,
                          env=env, stdin=subprocess.DEVNULL, timeout=600)


def test_every_marked_block_is_known() -> None:
    assert set(BLOCKS) == {"team.toml", "config-check", "try-out", "pins", "dry-run", "startup", "flow-b"}


def test_the_team_example_passes_config_check_offline(share: Path) -> None:
    ran = run_block("config-check", share)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "a valid team file" in ran.stdout + ran.stderr


def test_the_lead_try_out_touches_nothing_of_the_lead(share: Path, tmp_path: Path) -> None:
    lead = tmp_path / "lead-home"
    (lead / ".ssh").mkdir(parents=True)
    (lead / ".ssh" / "config").write_text("Host *\n    ServerAliveInterval 30\n")
    before = {p: p.read_bytes() for p in lead.rglob("*") if p.is_file()}
    ran = run_block("try-out", share, home=lead)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "git.corp.example" in ran.stdout
    after = {p: p.read_bytes() for p in lead.rglob("*") if p.is_file()}
    assert after == before


def test_the_pins_block_prints_the_pins_and_a_bootstrap(share: Path) -> None:
    ran = run_block("pins", share)
    assert ran.returncode == 0, ran.stderr
    assert sha(share / "team.toml") in ran.stdout and sha(share / "wheelhouse" / "requirements.txt") in ran.stdout
    assert "# the inline bootstrap" in ran.stdout


@pytest.mark.root
def test_the_dry_run_block_passes(share: Path, other_user: pwd.struct_passwd) -> None:
    ran = run_block("dry-run", share, account=other_user.pw_name)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "dry run: every check passed; nothing was changed" in ran.stdout
    assert not (share.parent / "etc").exists() and not (share.parent / "opt").exists()


@pytest.mark.root
@pytest.mark.parametrize("name", ["startup", "flow-b"])
def test_the_documented_startup_call_installs_for_the_member(share: Path, other_user: pwd.struct_passwd, name: str) -> None:
    ran = run_block(name, share, account=other_user.pw_name)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (share.parent / "etc" / "onboard" / "team.toml").read_bytes() == (share / "team.toml").read_bytes()
    known_hosts = Path(other_user.pw_dir) / ".ssh" / "known_hosts"
    assert "AAAAC3NzaC1lZDI1NTE5AAAAILMQWKgqzKRYiSkzzPE8bwVwVaeiK/PJAHow1YlzlNvS" in known_hosts.read_text()  # the team pin
    assert ran.stdout.strip().splitlines()[-1].startswith("still to do:")
