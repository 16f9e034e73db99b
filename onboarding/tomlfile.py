"""Read a TOML file a user or a team lead wrote: every way it can be bad is exit 2, never a traceback.

tomllib recurses once per nesting level, so `a = [[[[...]]]]` 5,000 deep raises
RecursionError (exit 1 with a traceback) instead of TOMLDecodeError; a team file is a
few hundred bytes, so anything past MAX_BYTES is refused before parsing at all.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from onboarding.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_BYTES = 1024 * 1024


def load(path: Path, what: str = "config file", data: bytes | None = None) -> dict[str, Any]:
    """The parsed table of `path` (or of `data`, its bytes as root read them for the user side);
    UsageError (exit 2) naming `what` and the file otherwise."""
    if data is None:
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            raise UsageError(f"{what} not found: {path}") from None
        except OSError as exc:
            raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path}: a {what} larger than {MAX_BYTES // 1024} KiB is refused (is it the right file?)")
    try:
        table: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise UsageError(f"{path}: not valid TOML: nested too deeply") from None
    return table
