"""What several commands need: the target account, key path, passphrase and providers."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from onboarding import providers as prov
from onboarding.console import Console
from onboarding.errors import UsageError
from onboarding.instance import Target, resolve_target
from onboarding.keys import DEFAULT_NAMES
from onboarding.prompts import Prompter
from onboarding.settings import Settings

# The names of the flags that answer the passphrase question, not a secret.
PASSPHRASE_FLAGS = "--passphrase-file FILE, --passphrase-stdin, --passphrase-env VAR, ONBOARD_PASSPHRASE, or --no-passphrase"  # noqa: S105, E501


def target(settings: Settings) -> Target:
    return resolve_target(settings.user)


def key_path(settings: Settings, tgt: Target) -> Path:
    if settings.key_file is not None:
        path = settings.key_file.expanduser()
        return path if path.is_absolute() else Path.cwd() / path
    return tgt.ssh_dir / DEFAULT_NAMES[settings.key_type]


def known_hosts_path(settings: Settings, tgt: Target) -> Path:
    return settings.known_hosts.expanduser() if settings.known_hosts else tgt.ssh_dir / "known_hosts"


def given_passphrase(settings: Settings) -> bytes | None:
    """The passphrase from a non-interactive source, or None when no source was given."""
    sources = [
        name
        for name, given in (
            ("--passphrase-file", settings.passphrase_file is not None),
            ("--passphrase-stdin", settings.passphrase_stdin),
            ("--passphrase-env", settings.passphrase_env is not None),
        )
        if given
    ]
    if len(sources) > 1:
        raise UsageError(f"choose one passphrase source, not {' and '.join(sources)}")
    if sources and settings.no_passphrase:
        raise UsageError(f"--no-passphrase contradicts {sources[0]}")
    data: bytes | None = None
    if settings.passphrase_file is not None:
        try:
            data = settings.passphrase_file.expanduser().read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --passphrase-file {settings.passphrase_file}: {exc.strerror}") from None
    elif settings.passphrase_stdin:
        data = _stdin_once()
    elif settings.passphrase_env is not None:
        value = os.environ.get(settings.passphrase_env)
        if value is None:
            raise UsageError(f"--passphrase-env {settings.passphrase_env}: that variable is not set")
        data = value.encode()
    elif not settings.no_passphrase and "ONBOARD_PASSPHRASE" in os.environ:
        data = os.environ["ONBOARD_PASSPHRASE"].encode()
    if data is None:
        return None
    # One trailing newline is the file's, not the passphrase's (echo pw > file).
    data = data[:-1] if data.endswith(b"\n") else data
    data = data[:-1] if data.endswith(b"\r") else data
    if not data:
        raise UsageError("the passphrase given is empty", hint="pass --no-passphrase for a key without one")
    return data


@functools.cache
def _stdin_once() -> bytes:
    """Standard input can be read once; every step that needs the passphrase gets the same bytes."""
    return sys.stdin.buffer.read()


def passphrase(settings: Settings, prompter: Prompter, *, existing: bool) -> bytes | None:
    """Non-interactive source, else --no-passphrase, else ask (twice for a new key), else refuse."""
    given = given_passphrase(settings)
    if given is not None or settings.no_passphrase:
        return given
    if existing:
        return prompter.password("Passphrase of your existing key:", flags=PASSPHRASE_FLAGS).encode()
    return prompter.new_passphrase(flags=PASSPHRASE_FLAGS)


def providers(settings: Settings) -> dict[str, prov.Provider]:
    extra = []
    if settings.team_providers:
        extra.append((str(settings.config), settings.team_providers))
    if settings.providers_file is not None:
        extra.append((str(settings.providers_file), prov.load_file(settings.providers_file)))
    return prov.load_all(extra)


def show_where_to_paste(console: Console, chosen: list[prov.Provider]) -> None:
    for p in chosen:
        if p.add_key_url:
            console.out(f"  {p.title + ':':14} {p.add_key_url}")
            if p.paste and console.verbose:
                console.out(f"  {'':14} {p.paste}")
