"""Real git repositories in temporary folders (the environment is pinned by conftest's autouse fixture)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", str(path))
    for name, text in (files or {"README.md": "hello\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "first", cwd=path)
    return path


def make_bare(path: Path, files: dict[str, str] | None = None) -> Path:
    work = make_repo(path.with_name(path.name + ".work"), files)
    git("clone", "-q", "--bare", str(work), str(path))
    shutil.rmtree(work)
    return path


