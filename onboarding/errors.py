"""The one expected-error type and the exit codes it maps to (DESIGN.md: Exit codes)."""

from __future__ import annotations

from enum import IntEnum

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    HOST_KEY = 3
    NETWORK = 4
    CONFLICT = 5
    GIT = 6
    PARTIAL = 7  # keys rotate/prune: some keys that should have been removed are still registered
    DIFFERS = 8  # git-info --job: the local code is not the job's (a verdict, not a failure)
    INTERRUPTED = 130


class OnboardError(Exception):
    """An expected failure: a message for the user, a hint saying what to do, an exit code."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.result = result  # what was done before the failure: the --json envelope carries it


class UsageError(OnboardError):
    exit_code = ExitCode.USAGE


class HostKeyError(OnboardError):
    exit_code = ExitCode.HOST_KEY


class NetworkError(OnboardError):
    exit_code = ExitCode.NETWORK


class ConflictError(OnboardError):
    exit_code = ExitCode.CONFLICT


class GitError(OnboardError):
    exit_code = ExitCode.GIT


class PartialRemovalError(OnboardError):
    """The new key works, but an old key is still on some provider: the message names each step left."""

    exit_code = ExitCode.PARTIAL
