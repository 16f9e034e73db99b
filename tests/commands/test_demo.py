"""`onboard demo`: the whole setup against the sandbox, offline, leaving nothing behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers.run import onboard


def test_demo_runs_offline_with_no_terminal_and_cleans_up(home: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"  # the run's TMPDIR: what it leaves is told apart from other runs on the machine
    scratch.mkdir()
    r = onboard("demo", "--json", timeout=120, env={"TMPDIR": str(scratch)})
    assert r.returncode == 0, r.output
    data = json.loads(r.stdout)
    assert data["key"]["encrypted"] and data["key"]["key_type"] == "rsa" and data["key"]["bits"] == 4096
    assert data["clones"][0]["status"] == "cloned"
    assert data["git_info"]["mlflow.source.git.branch"] == "main"
    assert data["git_info"]["azureml.git.dirty"] == "False"
    assert "1 key(s) match the pins" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("next: run `onboard`")  # where to go from here
    # the git-info step comes before the summary, and nothing is "left" in a home about to go
    assert r.stderr.index("4/4") < r.stderr.index("Summary") and "What is left" not in r.stderr
    assert list(scratch.iterdir()) == []  # the throwaway home, the agent's folder: all gone
    assert not (home / ".ssh").exists()  # the demo never touches the real (here: test) home
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(scratch) not in ps  # no agent left
