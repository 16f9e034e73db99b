"""Git identity (user.name / user.email in the global config): read it, set only what is missing.

A value that is already set is the person's choice: a different one given now is reported,
not written, unless `overwrite` says so. git itself reads and writes the file (through
proc.py), so includes, locks and quoting stay git's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from onboarding import proc
from onboarding.errors import GitError

FIELDS = ("user.name", "user.email")


@dataclass(frozen=True)
class Identity:
    name: str | None = None
    email: str | None = None

    def get(self, field: str) -> str | None:
        return self.name if field == "user.name" else self.email


@dataclass(frozen=True)
class IdentityResult:
    current: Identity  # what git has now (after any write)
    written: tuple[str, ...] = ()  # fields set by this run
    differs: tuple[tuple[str, str, str], ...] = ()  # (field, kept value, the value given) not written

    def as_json(self) -> dict[str, object]:
        return {"name": self.current.name, "email": self.current.email, "written": list(self.written),
                "differs": [{"field": f, "kept": k, "given": g} for f, k, g in self.differs]}


def read() -> Identity:
    """The global values (what a commit in a new clone uses when the clone sets none)."""
    values = []
    for field in FIELDS:
        done = proc.run(["git", "config", "--global", "--get", field], timeout=30)
        values.append((done.out.strip() or None) if done.returncode == 0 else None)
    return Identity(*values)


def ensure(wanted: Identity, *, overwrite: bool = False) -> IdentityResult:
    """Set each wanted field that is missing (or, with `overwrite`, different)."""
    current = read()
    written: list[str] = []
    differs: list[tuple[str, str, str]] = []
    for field in FIELDS:
        have, want = current.get(field), wanted.get(field)
        if not want or want == have:
            continue
        if have and not overwrite:
            differs.append((field, have, want))
            continue
        done = proc.run(["git", "config", "--global", field, want], timeout=30)
        if done.returncode != 0:
            raise GitError(f"git config --global {field} failed: {done.err.strip()}")
        written.append(field)
    return IdentityResult(read() if written else current, tuple(written), tuple(differs))
