"""Run the CLI in-process with an injected terminal (httpie's MockEnvironment habit)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from onboarding.cli import main
from onboarding.console import Console


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def returncode(self) -> int:  # the names conftest.onboard's Result has, so a test can switch runner
        return self.code

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        """The run's one JSON document: fails if stdout holds anything else."""
        return json.loads(self.stdout)


def run(*argv: str, stdin: str = "", tty: bool = False) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    console = Console(stdout=out, stderr=err, stdin=io.StringIO(stdin), stdin_isatty=tty, stdout_isatty=tty,
                      color=False)
    code = main(list(argv), console=console)
    return Ran(code, out.getvalue(), err.getvalue())


def run_env(*argv: str, env: Mapping[str, str] | None = None, stdin: str = "", tty: bool = False) -> Ran:
    """`run` with these environment variables set for the call only (as `onboard(..., env=...)`)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        return run(*argv, stdin=stdin, tty=tty)
