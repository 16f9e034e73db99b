"""What one run works with (settings, secrets, terminal, target account, pinned providers) and
what it did (the summary every front end prints and --json returns)."""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from onboarding import keys
from onboarding import providers as prov
from onboarding.console import Console
from onboarding.instance import Target, resolve_target
from onboarding.known_hosts import MergeResult
from onboarding.prompts import Prompter
from onboarding.secrets import PASSPHRASE_FLAGS, Secrets
from onboarding.settings import Settings


@dataclass(frozen=True)
class Run:
    settings: Settings
    secrets: Secrets
    console: Console
    prompter: Prompter
    target: Target

    @classmethod
    def start(cls, settings: Settings, secrets: Secrets, console: Console) -> Run:
        return cls(settings, secrets, console, Prompter(console, non_interactive=settings.non_interactive),
                   resolve_target(None))

    def with_settings(self, **changes: Any) -> Run:
        return replace(self, settings=self.settings._replace(**changes))

    def with_passphrase(self, passphrase: bytes | None) -> Run:
        if passphrase is None or passphrase == self.secrets.passphrase:
            return self
        return replace(self, secrets=Secrets(passphrase, self.secrets.variables))

    @functools.cached_property
    def catalogue(self) -> dict[str, prov.Provider]:
        s = self.settings
        extra = []
        if s.team_providers:
            extra.append((str(s.config or "team file"), s.team_providers))
        if s.providers_file is not None:
            path = s.providers_file.expanduser()
            extra.append((str(s.providers_file), prov.load_file(path, s.inputs.get(os.path.abspath(path)))))
        return prov.load_all(extra)

    @property
    def key_path(self) -> Path:
        if self.settings.key_file is not None:
            path = self.settings.key_file.expanduser()
            return path if path.is_absolute() else Path.cwd() / path
        return self.target.ssh_dir / keys.DEFAULT_NAMES[self.settings.key_type]

    @property
    def known_hosts(self) -> Path:
        kh = self.settings.known_hosts
        return kh.expanduser() if kh else self.target.ssh_dir / "known_hosts"

    @property
    def key_exists(self) -> bool:
        return os.path.lexists(self.key_path) and not self.settings.force

    def needs_passphrase(self) -> bool:
        """The one answer to "does this run need a passphrase?": a new key (unless --no-passphrase),
        or an existing key that has one."""
        if self.settings.no_passphrase and not self.key_exists:
            return False
        return not self.key_exists or keys.is_encrypted(self.key_path)

    def passphrase_for_key(self) -> bytes | None:
        """Given, else asked (once for an existing key, twice for a new one), else refused."""
        given = self.secrets.passphrase
        if given is not None or not self.needs_passphrase():
            return given
        if self.key_exists:
            return self.ask_existing_passphrase()
        return self.prompter.new_passphrase(flags=PASSPHRASE_FLAGS)

    def ask_existing_passphrase(self, tries: int = 3) -> bytes:
        """Asked until it opens the key (as ssh-keygen: three tries); checked here, so a typo is asked again."""
        from onboarding.errors import ConflictError

        path = self.key_path
        for left in range(tries - 1, -1, -1):
            typed = self.prompter.password(f"Passphrase of your existing key {path}:", flags=PASSPHRASE_FLAGS)
            again = f"; {left} more {'try' if left == 1 else 'tries'}" if left else ""
            if not typed:
                self.console.warn(f"{path} is protected by a passphrase: type it (nothing shows as you type){again}")
                continue
            try:
                keys.load_private(path, typed.encode())  # opened once; ensure_key reuses the opened key
            except ConflictError:
                self.console.warn(f"that passphrase does not open {path}{again}")
                continue
            return typed.encode()
        raise ConflictError(f"{tries} passphrases did not open {path}; nothing was changed",
                            hint="run again with its passphrase, or choose to replace the key "
                            "(the old pair is kept as a backup)")


@dataclass
class Summary:
    key: keys.KeyResult | None = None
    providers: list[str] = field(default_factory=list)
    known_hosts: str = ""
    known_hosts_added: int = 0
    known_hosts_removed: int = 0
    clones: list[Any] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)  # (URL, exit code) of each clone that failed
    uploads: list[str] = field(default_factory=list)
    identity: Any = None  # identity.IdentityResult once the git identity stage ran
    offline_hosts: bool = False  # the pinned keys were written without probing (no network)
    unlocked: Any = None  # unlockstage.Unlocked when the key was kept unlocked (day two)
    signing: Any = None  # signing.SigningResult when --signing set git up to sign commits

    def record_hosts(self, r: Run, merged: MergeResult) -> None:
        self.known_hosts = str(r.known_hosts)
        self.known_hosts_added, self.known_hosts_removed = len(merged.added), len(merged.removed)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": key_json(self.key) if self.key else None,
            "providers": self.providers,
            "known_hosts": {"path": self.known_hosts, "added": self.known_hosts_added,
                            "removed": self.known_hosts_removed},
            "clones": [c.as_json() for c in self.clones],
            "uploads": self.uploads,
            "git_identity": self.identity.as_json() if self.identity else None,
            "agent": self.unlocked.as_json() if self.unlocked else None,
            "signing": self.signing.as_json() if self.signing else None,
        }


def key_json(result: keys.KeyResult) -> dict[str, Any]:
    data = asdict(result)
    data.update(path=str(result.path), public_path=str(result.public_path),
                public_key=result.public_line.strip(), backup=str(result.backup) if result.backup else None,
                notes=list(result.notes))
    del data["public_line"]
    return data
