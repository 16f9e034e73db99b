"""Run the CLI in-process with an injected terminal (httpie's MockEnvironment habit)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from onboarding.cli import main
from onboarding.console import Console


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The run's one JSON document: fails if stdout holds anything else."""
        return json.loads(self.stdout)


def run(*argv: str, stdin: str = "", tty: bool = False) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    console = Console(stdout=out, stderr=err, stdin=io.StringIO(stdin), stdin_isatty=tty, stdout_isatty=tty,
                      color=False)
    code = main(list(argv), console=console)
    return Ran(code, out.getvalue(), err.getvalue())
