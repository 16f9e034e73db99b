"""Can an account run the interpreter root is running, with onboard and its dependencies?

The user side of `--user` is a fresh interpreter started as the account (privilege.py).
Before root starts it, it checks that the account can reach everything that interpreter
loads: the executable (as named and where its links lead), the venv's pyvenv.cfg and the
`home` it names, the standard library and lib-dynload, site-packages, onboard itself and
its dependencies. The first path the account cannot read or search is the answer; a file
deep inside a dependency is not looked at (a start that still fails is reported as such).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

# What the user side imports as the account besides the standard library.
DEPENDENCIES = ("cryptography", "bcrypt", "paramiko", "questionary", "prompt_toolkit")

READ, WRITE, SEARCH = 4, 2, 1


class Who(NamedTuple):
    name: str
    uid: int
    groups: tuple[int, ...]


class Need(NamedTuple):
    path: Path
    bits: int  # READ and/or SEARCH (for the executable: SEARCH is its execute bit)


def allows(st: os.stat_result, who: Who, bits: int) -> bool:
    """The permission bits `who` gets on a file (owner, else group, else other: the first that applies)."""
    if st.st_uid == who.uid:
        mode = st.st_mode >> 6
    elif st.st_gid in who.groups:
        mode = st.st_mode >> 3
    else:
        mode = st.st_mode
    return mode & bits == bits


def first_unreachable(who: Who, needs: Sequence[Need]) -> str | None:
    """What stops `who` (the first path it cannot search down to, read or execute), or None."""
    for need in needs:
        problem = _reach(who, Path(os.path.abspath(need.path)), need.bits)
        if problem:
            return problem
    return None


def _reach(who: Who, path: Path, bits: int, hops: int = 0) -> str | None:
    """Walk `path` as the kernel would for `who`: search on every directory, each symlink followed
    where it leads (a venv's python -> a base interpreter in a folder only root may enter)."""
    if hops > 40:
        return f"{path}: too many levels of symbolic links"
    parts = path.parts
    here = Path(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        problem = _check(who, here, SEARCH)
        if problem:
            return problem
        step = here / part
        if os.path.islink(step):
            target = Path(os.path.abspath(here / os.readlink(step)))
            return _reach(who, target.joinpath(*parts[i + 1:]), bits, hops + 1)
        here = step
    return _check(who, here, bits)


def _check(who: Who, path: Path, bits: int) -> str | None:
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if allows(st, who, bits):
        return None
    if bits == SEARCH:
        return f"{path} is not {'searchable' if path.is_dir() else 'executable'} by {who.name}"
    return f"{path} is not {'readable' if bits == READ else 'readable and searchable'} by {who.name}"


def interpreter_needs(executable: str = sys.executable) -> list[Need]:
    """The interpreter, its venv's configuration and home, the standard library and site-packages."""
    needs = [Need(Path(executable), SEARCH)]
    if sys.prefix != sys.base_prefix:
        cfg = Path(sys.prefix) / "pyvenv.cfg"
        needs.append(Need(cfg, READ))
        home = _venv_home(cfg)
        if home is not None:
            needs.append(Need(home, SEARCH))
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in paths and os.path.isdir(paths[key]):
            needs.append(Need(Path(paths[key]), READ | SEARCH))
    dynload = Path(paths.get("platstdlib", "")) / "lib-dynload"
    if dynload.is_dir():
        needs.append(Need(dynload, READ | SEARCH))
    needs.append(Need(Path(os.__file__), READ))
    return needs


def _venv_home(cfg: Path) -> Path | None:
    try:
        lines = cfg.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, eq, value = line.partition("=")
        if eq and key.strip().lower() == "home" and value.strip():
            return Path(value.strip())
    return None


def package_needs(package: Path) -> list[Need]:
    """onboard (the folder root imports it from, every module in it) and its dependencies."""
    needs = [Need(package.parent, READ | SEARCH), Need(package, READ | SEARCH)]
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".toml") or (path.is_dir() and path.name != "__pycache__"):
            needs.append(Need(path, READ | SEARCH if path.is_dir() else READ))
    from importlib.util import find_spec

    for name in DEPENDENCIES:
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin:
            origin = Path(spec.origin)  # as the import system found it (links unresolved)
            needs += [Need(origin.parent, READ | SEARCH), Need(origin, READ)]
    return needs
