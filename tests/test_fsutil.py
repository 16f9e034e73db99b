"""fsutil: path text checks, and stale temp files a SIGKILL left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import onboard

from onboarding import fsutil
from onboarding.errors import UsageError


@pytest.mark.parametrize("text", ["a\nb/key", "key\r", "k\x00ey", "k\x1b[31mey", "key\x7f"])
def test_path_with_control_characters_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--key-file"):
        fsutil.check_path_text(Path(text), "--key-file")


def test_plain_paths_pass() -> None:
    fsutil.check_path_text(Path("/home/u/.ssh/id work ünïcode"), "--key-file")


def test_keygen_with_a_newline_in_key_file_creates_nothing(home: Path) -> None:
    r = onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519", "--key-file", str(home / "a\nb" / "key"))
    assert r.returncode == 2, r.output
    assert "control character" in r.stderr
    assert sorted(p.name for p in home.iterdir()) == [".gitconfig"]
