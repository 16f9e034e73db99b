"""Can an account reach what the user side of `--user` loads (onboarding/runnable.py)? Walked as the
kernel walks a path: every directory searched, each symlink followed where it leads."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from onboarding import runnable

NOBODY = runnable.Who("someone", 4242424, (4242424,))  # owns nothing here, in no group of ours


@pytest.fixture
def base() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="onboard-runnable-", dir="/tmp"))  # /tmp: searchable by all
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)


def test_a_symlink_into_a_folder_the_account_cannot_search_is_named(base: Path) -> None:
    """A venv's python -> a base interpreter under a private folder (pyenv under /root, mode 0700)."""
    private = base / "private"
    (private / "bin").mkdir(parents=True)
    private.chmod(0o700)
    exe = private / "bin" / "python3"
    exe.write_text("")
    exe.chmod(0o755)
    (base / "venv-python").symlink_to(exe)
    problem = runnable.first_unreachable(NOBODY, [runnable.Need(base / "venv-python", runnable.SEARCH)])
    assert problem == f"{private} is not searchable by someone"


def test_a_relative_symlink_is_followed_from_its_own_folder(base: Path) -> None:
    (base / "lib").mkdir()
    target = base / "lib" / "real.py"
    target.write_text("")
    target.chmod(0o600)
    (base / "link.py").symlink_to("lib/real.py")
    problem = runnable.first_unreachable(NOBODY, [runnable.Need(base / "link.py", runnable.READ)])
    assert problem == f"{target} is not readable by someone"


def test_the_owner_bits_decide_for_the_owner_even_when_others_may() -> None:
    st = os.stat_result((stat.S_IFREG | 0o007, 0, 0, 1, 4242424, 0, 0, 0, 0, 0))
    assert not runnable.allows(st, NOBODY, runnable.READ)
    assert runnable.allows(st, runnable.Who("other", 1, ()), runnable.READ)


def test_what_this_interpreter_loads_is_reachable_by_its_owner() -> None:
    me = runnable.Who("me", os.getuid(), tuple(os.getgroups()))
    needs = runnable.interpreter_needs() + runnable.package_needs(Path(runnable.__file__).parent)
    assert runnable.first_unreachable(me, needs) is None
    named = {str(n.path) for n in needs}
    assert str(Path(os.__file__)) in named
    if sys.prefix != sys.base_prefix:
        assert str(Path(sys.prefix) / "pyvenv.cfg") in named
