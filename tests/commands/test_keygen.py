"""`onboard keygen` on the real binary: what a person reads."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import onboard


def test_a_refused_question_under_json_names_json_not_non_interactive(home: Path) -> None:
    done = onboard("--json", "keygen", "--key-type", "ed25519")
    assert done.returncode == 2, done.output
    message = json.loads(done.stdout)["error"]["message"]
    assert "--json" in message and "--non-interactive" not in message
    assert not (home / ".ssh" / "id_ed25519").exists()


def test_a_refused_question_under_non_interactive_names_it(home: Path) -> None:
    done = onboard("-y", "keygen", "--key-type", "ed25519")
    assert done.returncode == 2, done.output
    assert "--non-interactive was given" in done.stderr
