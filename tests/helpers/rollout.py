"""A workspace file share as mounted on an instance (~/cloudfiles/code) and a roster, for rollout tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEADER = ("instance", "user_object_id", "user_tenant_id", "size", "passphrase_keyvault")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ALICE = ("ci-alice", "17bac01b-4294-48c1-a35d-5bd1b4e8c777", TENANT, "", "kv-alice/ssh-passphrase")
BOB = ("ci-bob", "2e0c5d3a-9b1f-4c6e-8a7d-0f1e2d3c4b5a", TENANT, "Standard_E4-2ds_v4", "")
SCRIPT = b"#!/bin/bash\nset -euo pipefail\necho \"setup for $CI_NAME: $*\"\n"
STARTUP = b"#!/bin/bash\necho \"start: $*\"\n"


@dataclass
class Share:
    root: Path  # the mount (~/cloudfiles/code)
    folder: Path  # Users/admin/onboard setup/ (a space on purpose: quoting)
    script: Path
    startup: Path
    team_file: Path
    wheelhouse: Path


def make_share(home: Path) -> Share:
    root = home / "cloudfiles" / "code"
    folder = root / "Users" / "admin" / "onboard setup"
    (folder / "wheelhouse").mkdir(parents=True)
    script, startup = folder / "setup-compute-instance.sh", folder / "unlock-at-start.sh"
    script.write_bytes(SCRIPT)
    startup.write_bytes(STARTUP)
    team = folder / "team.toml"
    team.write_text('[setup]\nproviders = ["github"]\n')
    (folder / "wheelhouse" / "requirements.txt").write_text("onboarding==0.1.0 --hash=sha256:" + "0" * 64 + "\n")
    return Share(root, folder, script, startup, team, folder / "wheelhouse")


def write_roster(path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = HEADER) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` with its bytes (nothing written = the same snapshot)."""
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
