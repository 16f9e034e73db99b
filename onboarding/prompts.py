"""The only importer of questionary. Every prompt refuses, rather than hangs, without a terminal.

Each prompt names the flag that would have answered it, so the refusal tells a script
exactly what to pass (pipx's "_confirmed_reset" habit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onboarding.console import Console
from onboarding.errors import UsageError


class Prompter:
    def __init__(self, console: Console, *, non_interactive: bool) -> None:
        self.console = console
        self.non_interactive = non_interactive

    @property
    def can_ask(self) -> bool:
        return self.console.interactive and not self.non_interactive

    def refuse(self, what: str, flags: str) -> UsageError:
        if self.non_interactive:  # --json implies it: name the flag the person typed
            given = "--json (which never prompts)" if self.console.json_mode else "--non-interactive"
            return UsageError(f"{what} is needed and {given} was given", hint=f"pass {flags}")
        return UsageError(
            f"{what} is needed but there is no terminal to ask on",
            hint=f"pass {flags} (and --non-interactive in scripts)",
        )

    def _ask(self, question: Any) -> Any:
        return question.unsafe_ask()  # unsafe_ask raises KeyboardInterrupt on Ctrl-C: exit 130

    def text(self, message: str, *, flags: str, default: str = "") -> str:
        if not self.can_ask:
            raise self.refuse(message.rstrip(":?"), flags)
        import questionary

        return str(self._ask(questionary.text(message, default=default)))

    def password(self, message: str, *, flags: str) -> str:
        if not self.can_ask:
            raise self.refuse(message.rstrip(":?"), flags)
        import questionary

        return str(self._ask(questionary.password(message)))

    def confirm(self, message: str, *, flags: str, default: bool = True) -> bool:
        if not self.can_ask:
            raise self.refuse(message.rstrip(":?"), flags)
        import questionary

        return bool(self._ask(questionary.confirm(message, default=default)))

    def pause(self, message: str, *, flags: str) -> None:
        """Wait for a key press: no (Y/n) whose "n" would go on all the same."""
        if not self.can_ask:
            raise self.refuse(message.rstrip(":?."), flags)
        import questionary

        self._ask(questionary.press_any_key_to_continue(message))

    def select(
        self, message: str, choices: Sequence[tuple[str, str]], *, flags: str, default: str | None = None,
        instruction: str | None = None,
    ) -> str:
        """choices: (value, label) pairs; returns the value. Keep labels short: a line wider than the
        terminal is cut, not wrapped; say the rest before asking."""
        if not self.can_ask:
            raise self.refuse(message.rstrip(":?"), flags)
        import questionary

        options = [questionary.Choice(label, value=value) for value, label in choices]
        return str(self._ask(questionary.select(message, choices=options, default=default, instruction=instruction)))

    def checkbox(
        self, message: str, choices: Sequence[tuple[str, str, bool]], *, flags: str
    ) -> list[str]:
        """choices: (value, label, checked) triples; returns the chosen values."""
        if not self.can_ask:
            raise self.refuse(message.rstrip(":?"), flags)
        import questionary

        options = [questionary.Choice(label, value=v, checked=c) for v, label, c in choices]
        return [str(v) for v in self._ask(questionary.checkbox(message, choices=options))]

    def new_passphrase(self, *, flags: str) -> bytes:
        """Ask twice; on a mismatch say so and ask again."""
        from onboarding.keys import MIN_PASSPHRASE

        while True:
            first = self.password("Passphrase for the new key:", flags=flags)
            if len(first) < MIN_PASSPHRASE:
                self.console.warn(f"too short: at least {MIN_PASSPHRASE} characters")
                continue
            second = self.password("Same passphrase again:", flags=flags)
            if first == second:
                return first.encode()
            self.console.warn("the two passphrases differ; try again")
