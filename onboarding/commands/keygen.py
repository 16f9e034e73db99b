"""`onboard keygen`: create or reuse the key pair, then show where to paste it."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from onboarding import keys
from onboarding.commands import common
from onboarding.console import Console
from onboarding.instance import Target, default_comment
from onboarding.prompts import Prompter
from onboarding.settings import Settings


def ask_passphrase(settings: Settings, prompter: Prompter, tgt: Target) -> bytes | None:
    """From a source, or asked (once for an existing key, twice for a new one), or refused."""
    path = common.key_path(settings, tgt)
    existing = os.path.lexists(path) and not settings.force
    if existing and common.given_passphrase(settings) is None and not keys.is_encrypted(path):
        return None  # an existing key without a passphrase: nothing to ask (ensure() warns about it)
    return common.passphrase(settings, prompter, existing=existing)


def ensure(settings: Settings, console: Console, tgt: Target, secret: bytes | None) -> keys.KeyResult:
    """The key step shared by keygen, setup, the wizard and the demo."""
    path = common.key_path(settings, tgt)
    existing = os.path.lexists(path) and not settings.force
    request = keys.KeyRequest(
        path=path,
        key_type=settings.key_type,
        bits=settings.bits,
        comment=settings.email or default_comment(tgt),
        passphrase=secret,
        rounds=settings.kdf_rounds,
        force=settings.force,
        owner=tgt.owner(),
    )
    if not existing:
        size = f"{settings.bits}-bit " if settings.key_type == "rsa" else ""
        console.step(f"Generating a {size}{settings.key_type} key at {path}")
    result = keys.ensure_key(request)
    for note in result.notes:
        console.info(note)
    if result.backup:
        console.info(f"the old pair was moved to {result.backup} (and .pub)")
    console.ok(f"key {result.status}: {result.path} ({result.fingerprint})")
    if not result.encrypted:
        console.warn(f"{result.path} has no passphrase: anyone who can read it can use it")
    return result


def key_json(result: keys.KeyResult) -> dict[str, Any]:
    data = asdict(result)
    data.update(path=str(result.path), public_path=str(result.public_path),
                public_key=result.public_line.strip(), backup=str(result.backup) if result.backup else None,
                notes=list(result.notes))
    del data["public_line"]
    return data


def show_public_key(console: Console, result: keys.KeyResult, chosen: list[Any]) -> None:
    console.out("Your public key (copy the whole line):")
    console.out()
    console.out(result.public_line.rstrip("\n"))
    console.out()
    console.out(f"Fingerprint: {result.fingerprint}")
    if chosen:
        console.out("Add it here:")
        common.show_where_to_paste(console, chosen)


def run(settings: Settings, console: Console) -> int:
    tgt = common.target(settings)
    prompter = Prompter(console, non_interactive=settings.non_interactive)
    catalogue = common.providers(settings)
    result = ensure(settings, console, tgt, ask_passphrase(settings, prompter, tgt))
    names = settings.providers or tuple(catalogue)
    from onboarding.providers import select

    chosen = select(catalogue, names)
    show_public_key(console, result, chosen)
    data = key_json(result)
    data["add_key_urls"] = {p.name: p.add_key_url for p in chosen}
    console.emit_json(data)
    return 0
