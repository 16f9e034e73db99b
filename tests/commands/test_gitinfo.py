"""`onboard git-info` on the real binary: what a person reads on the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _repo(tmp_path: Path, remote: str) -> Path:
    repo = tmp_path / "app"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.com",
                    "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", remote], check=True)
    return repo


def _git_info(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onboarding", "git-info", str(repo)], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)


def test_the_ssh_login_name_is_shown_as_recorded(home: Path, tmp_path: Path) -> None:
    ran = _git_info(_repo(tmp_path, "ssh://git@github.com/org/app.git"))
    assert ran.returncode == 0, ran.stderr
    assert "ssh://git@github.com/org/app.git" in ran.stdout
    assert "***" not in ran.stdout


def test_a_token_in_the_url_is_masked_on_the_terminal(home: Path, tmp_path: Path) -> None:
    ran = _git_info(_repo(tmp_path, "https://alice:ghp_secret123@github.com/org/app.git"))
    assert ran.returncode == 0, ran.stderr
    assert "ghp_secret123" not in ran.stdout
    assert "https://***@github.com/org/app.git" in ran.stdout
