"""Reading a user's TOML: every bad file is a UsageError (exit 2) naming it, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from onboarding import tomlfile
from onboarding.errors import ExitCode, UsageError


@pytest.mark.parametrize(("data", "message"), [
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    (b"a = " + b"{b = " * 5000 + b"1" + b"}" * 5000 + b"\n", "nested too deeply"),
    (b"a = '\xff'\n", "not UTF-8"),
    (b"[x\n", "not valid TOML"),
    (b"# " + b"x" * (tomlfile.MAX_BYTES + 1), "larger than"),
])
def test_bad_files_are_usage_errors(tmp_path: Path, data: bytes, message: str) -> None:
    f = tmp_path / "team.toml"
    f.write_bytes(data)
    with pytest.raises(UsageError, match=message) as info:
        tomlfile.load(f, "team file")
    assert info.value.exit_code == ExitCode.USAGE and str(f) in info.value.message


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="team file not found"):
        tomlfile.load(tmp_path / "nope.toml", "team file")
    with pytest.raises(UsageError, match="cannot read team file"):
        tomlfile.load(tmp_path, "team file")  # a directory


def test_good_file(tmp_path: Path) -> None:
    f = tmp_path / "team.toml"
    f.write_text('[setup]\nrepos = ["git@github.com:o/r.git"]\n')
    assert tomlfile.load(f) == {"setup": {"repos": ["git@github.com:o/r.git"]}}
