"""Text that becomes a path or a line of a file must be one line (cheap: settings checks every run)."""

from __future__ import annotations

from pathlib import Path

from onboarding.errors import UsageError


def check_path_text(path: Path | str, what: str) -> None:
    """Refuse a path with a newline or another control character (exit 2), naming `what`.

    Such a name would create directories with newlines in them, and written into an ssh
    config line (`IdentityFile ...`) it makes ssh reject the whole file.
    """
    text = str(path)
    bad = next((c for c in text if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise UsageError(f"{what}: {text!r} contains a control character ({bad!r}); give a one-line path")
