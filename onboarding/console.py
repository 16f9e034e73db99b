"""Every byte the user sees goes through here: human text, --json, progress, NO_COLOR.

stdout carries results (the public key, tables, the JSON object); stderr carries
progress, warnings and errors, so `onboard ... --json | jq` and `$(onboard ...)` work.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, TextIO

_STYLES = {"bold": "1", "green": "32", "yellow": "33", "red": "31", "dim": "2", "cyan": "36"}

# Control characters other than newline and tab, shown as \xNN: text we print may quote what
# other programs said (git's stderr, an ssh ProxyCommand of the user's under `--user`), and an
# escape sequence in it would reach the terminal (OSC 52 sets the clipboard, OSC 0 the title).
_INERT = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if c not in (0x09, 0x0A)}
_INERT[0x0D] = ""  # ssh's "\r\n": the line break alone


def inert(text: str) -> str:
    """`text` with every control character that could drive the terminal made visible and inert."""
    return text.translate(_INERT)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def wrap(text: str, indent: str = "", hang: str | None = None) -> str:
    """To the terminal's width (at most 100 columns, for reading), at word boundaries; `hang`
    indents the lines after the first (a numbered item's text)."""
    import shutil
    import textwrap

    width = max(40, min(shutil.get_terminal_size((80, 24)).columns, 100) - 1)
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent if hang is None else hang,
                         break_long_words=False, break_on_hyphens=False)


class Console:
    """The terminal, injected (httpie's Environment): tests pass their own streams and tty flags."""

    def __init__(self, *, stdout: TextIO | None = None, stderr: TextIO | None = None, stdin: TextIO | None = None,
                 json_mode: bool = False, quiet: bool = False, verbose: bool = False,
                 stdin_isatty: bool | None = None, stdout_isatty: bool | None = None,
                 color: bool | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self.json_mode, self.quiet, self.verbose = json_mode, quiet, verbose
        self.stdin_isatty = _isatty(self.stdin) if stdin_isatty is None else stdin_isatty
        self.stdout_isatty = _isatty(self.stdout) if stdout_isatty is None else stdout_isatty
        if color is None:
            # https://no-color.org: any non-empty NO_COLOR disables colour.
            color = self.stdout_isatty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.color = bool(color)

    @property
    def interactive(self) -> bool:
        """A person can answer prompts: both ends of the terminal are there."""
        return bool(self.stdin_isatty and self.stdout_isatty)

    def style(self, text: str, *names: str) -> str:
        if not self.color or not names:
            return text
        codes = ";".join(_STYLES[n] for n in names)
        return f"\033[{codes}m{text}\033[0m"

    # -- human text -------------------------------------------------------------------
    def out(self, text: str = "", *, mark: tuple[str, str] | None = None) -> None:
        """A result line for stdout (suppressed under --json, where stdout is the JSON). `mark`:
        (word, colour) printed styled before it: onboard's own styling is not escaped, the text is."""
        if not self.json_mode:
            lead = self.style(mark[0], mark[1]) + " " if mark else ""
            print(lead + inert(text), file=self.stdout, flush=True)

    def step(self, text: str) -> None:
        """What the tool is doing now (stderr, so stdout stays parseable)."""
        if not self.quiet:
            print(self.style("==> ", "cyan", "bold") + inert(text), file=self.stderr, flush=True)

    def info(self, text: str) -> None:
        if not self.quiet:
            print(inert(text), file=self.stderr, flush=True)

    def para(self, text: str, *, hang: str = "") -> None:
        """Prose on stderr: on a terminal wrapped at word boundaries (the terminal itself would cut
        words at its edge); in a log one line, as every other message."""
        if not self.quiet:
            print(wrap(text, hang=hang) if _isatty(self.stderr) else text, file=self.stderr, flush=True)

    def ok(self, text: str) -> None:
        if not self.quiet:
            print(self.style("ok ", "green") + inert(text), file=self.stderr, flush=True)

    def detail(self, text: str) -> None:
        if self.verbose:
            print(self.style(inert(text), "dim"), file=self.stderr, flush=True)

    def warn(self, text: str) -> None:
        print(self.style("warning: ", "yellow", "bold") + inert(text), file=self.stderr, flush=True)

    def error(self, text: str, hint: str | None = None) -> None:
        print(self.style("onboard: error: ", "red", "bold") + inert(text), file=self.stderr, flush=True)
        if hint:
            print(self.style("hint: ", "bold") + inert(hint), file=self.stderr, flush=True)

    def table(self, rows: Iterable[Sequence[str]], *, to_stderr: bool = False) -> None:
        rows = [list(r) for r in rows]
        if not rows:
            return
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]
            line = "  ".join(cells).rstrip()
            if to_stderr:
                self.info(line)
            else:
                self.out(line)

    # -- the one document of a run ----------------------------------------------------
    def _dump(self, data: Mapping[str, Any] | Sequence[Any]) -> None:
        import json

        json.dump(data, self.stdout, indent=2, sort_keys=False)
        self.stdout.write("\n")
        self.stdout.flush()

    def emit(self, data: Mapping[str, Any]) -> None:
        """One JSON document that is not a command's result (--json --help, --json --version)."""
        self._dump(data)

    def render(self, result: Result) -> int:
        """A command's outcome: with --json its document (exactly one per run); the text was printed."""
        if self.json_mode:
            self._dump(result.data)
        return result.exit_code

    def fail(self, message: str, hint: str | None, exit_code: int, result: Mapping[str, Any] | None = None) -> int:
        """Any failure: the error on stderr, and with --json the envelope on stdout."""
        self.error(message, hint)
        if self.json_mode:
            self._dump({"ok": False, "error": {"message": message, "hint": hint or None, "exit_code": exit_code},
                        "result": dict(result or {})})
        return exit_code


class Result:
    """What a command returns: its --json document and its exit code (pipx's OperationResult)."""

    __slots__ = ("data", "exit_code")

    def __init__(self, data: Mapping[str, Any] | Sequence[Any], exit_code: int = 0) -> None:
        self.data = data
        self.exit_code = exit_code


class Board:
    """One status line per item on stderr (concurrent clones). On a terminal the lines are
    redrawn in place; elsewhere (a log, a pipe) each item gets a start and an end line only,
    so a setup script's log has no carriage-return noise. Safe to call from several threads."""

    def __init__(self, console: Console, labels: Sequence[str]) -> None:
        import threading

        self._console = console
        self._lock = threading.Lock()
        width = max((len(label) for label in labels), default=0)
        self._labels = [label.ljust(width) for label in labels]
        self._live = (not console.quiet and _isatty(console.stderr) and os.environ.get("TERM") != "dumb")
        if self._live:
            for label in self._labels:
                print(f"{inert(label)}  waiting", file=console.stderr)
            console.stderr.flush()

    @property
    def live(self) -> bool:
        return self._live

    def update(self, index: int, text: str) -> None:
        """Progress: redrawn on a terminal, nothing elsewhere."""
        if self._live:
            self._draw(index, text)

    def event(self, index: int, text: str, *, failed: bool = False) -> None:
        """A start or an end: redrawn on a terminal, one line elsewhere."""
        if self._live:
            self._draw(index, text, "red" if failed else None)
        elif failed:
            self._console.info(f"{self._labels[index].rstrip()}: failed: {text}")
        else:
            self._console.info(f"{self._labels[index].rstrip()}: {text}")

    def _draw(self, index: int, text: str, color: str | None = None) -> None:
        import shutil

        columns = shutil.get_terminal_size().columns
        # no wrap: it would break the cursor math
        line = inert(f"{self._labels[index]}  {text}")[: max(10, columns - 1)]
        line = self._console.style(line, color) if color else line
        up = len(self._labels) - index
        with self._lock:
            self._console.stderr.write(f"\033[{up}A\r\033[2K{line}\033[{up}B\r")
            self._console.stderr.flush()
