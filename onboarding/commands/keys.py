"""`onboard keys upload | list | rotate | prune [PROVIDER...]`: the key on the providers' accounts."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from onboarding import api, keys, rotate
from onboarding import upload as up
from onboarding.api import lifecycle, tokens
from onboarding.commands import common
from onboarding.console import Console
from onboarding.errors import PartialRemovalError, UsageError
from onboarding.instance import Target, default_comment, detect_compute_instance
from onboarding.providers import Provider
from onboarding.settings import Settings


def title(tgt: Target) -> str:
    """Tells keys apart in the provider's list: onboard: user@host (instance) date."""
    ci = detect_compute_instance(tgt.home)
    where = f" ({ci.name})" if ci else ""
    return f"{api.TITLE_PREFIX} {tgt.name}@{socket.gethostname()}{where} {time.strftime('%Y-%m-%d')}"


def _overrides(settings: Settings) -> dict[str, str]:
    return {"github": settings.github_api, "gitlab": settings.gitlab_url, "bitbucket": settings.bitbucket_api}


def names_for(settings: Settings, catalogue: dict[str, Provider], given: Sequence[str]) -> list[str]:
    """The providers named, or those with an API and a token; unknown names are exit 2."""
    for name in given:
        if name not in catalogue:
            raise UsageError(f"unknown provider {name!r}", hint=f"known: {', '.join(catalogue)}")
    if given:
        return list(dict.fromkeys(given))
    files = tokens.token_paths(None, settings.token_files, [])
    found = [n for n, p in catalogue.items() if p.api and tokens.has_token(n, files, os.environ)]
    if not found:
        raise UsageError("no provider has a token", hint="set GH_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN or "
                         "ONBOARD_<PROVIDER>_TOKEN, or pass --token-file PROVIDER=FILE")
    return found


def clients(settings: Settings, catalogue: dict[str, Provider], names: Sequence[str]) -> list[api.KeyClient]:
    """One API client a provider, each with its own token (read before any request is sent)."""
    endpoints = [api.endpoint(n, catalogue[n].api, catalogue[n].api_url, _overrides(settings)) for n in names]
    files = tokens.token_paths(settings.token_file, settings.token_files, names)
    email = settings.bitbucket_email or os.environ.get("BITBUCKET_EMAIL")
    return [api.client(ep, tokens.read_token(ep.provider, files, os.environ), timeout=settings.timeout,
                       email=email) for ep in endpoints]


def upload_all(settings: Settings, console: Console, tgt: Target, public_line: str,
               names: Sequence[str]) -> list[up.UploadResult]:
    catalogue = common.providers(settings)
    names = names_for(settings, catalogue, names)
    results = []
    for c, name in zip(clients(settings, catalogue, names), names, strict=True):
        console.step(f"Registering the key with {name}")
        status, key = api.upload(c, public_line, title(tgt))
        said = "already registered" if status == "already-registered" else f"added as '{key.title}'"
        console.ok(f"{name}: {said}")
        results.append(up.UploadResult(name, status, key.title))
    return results


def _public_line(settings: Settings, tgt: Target, *, required: bool) -> str | None:
    pub = Path(str(common.key_path(settings, tgt)) + ".pub")
    try:
        return pub.read_text()
    except OSError:
        if not required:
            return None
        raise UsageError(f"no public key at {pub}", hint="run `onboard keygen` first, or pass --key-file") from None


def upload_cmd(settings: Settings, console: Console) -> int:
    tgt = common.target(settings)
    public_line = _public_line(settings, tgt, required=True) or ""
    results = upload_all(settings, console, tgt, public_line, settings.upload)
    console.emit_json({"uploads": [{"provider": r.provider, "status": r.status, "title": r.title} for r in results]})
    return 0


def _listed(settings: Settings, tgt: Target) -> list[lifecycle.ListedKey]:
    catalogue = common.providers(settings)
    names = names_for(settings, catalogue, settings.upload)
    local = _public_line(settings, tgt, required=False)
    now = datetime.now(timezone.utc)
    out: list[lifecycle.ListedKey] = []
    for c, name in zip(clients(settings, catalogue, names), names, strict=True):
        out += lifecycle.classify(name, c.list_keys(), local, now)
    return out


def _rows(listed: Sequence[lifecycle.ListedKey]) -> list[list[str]]:
    rows = [["PROVIDER", "ID", "CREATED", "AGE", "", "TITLE"]]
    for k in listed:
        mark = "this key" if k.current else ("onboard" if k.ours else "")
        created = k.key.created.strftime("%Y-%m-%d") if k.key.created else "?"
        age = f"{k.age_days}d" if k.age_days is not None else "?"
        rows.append([k.provider, k.key.id, created, age, mark, k.key.title])
    return rows


def list_cmd(settings: Settings, console: Console) -> int:
    listed = _listed(settings, common.target(settings))
    console.table(_rows(listed))
    console.emit_json({"keys": [k.as_json() for k in listed]})
    return 0


def prune_cmd(settings: Settings, console: Console) -> int:
    if settings.older_than is None or settings.older_than < 0:
        raise UsageError("keys prune needs --older-than DAYS (0 or more)")
    tgt = common.target(settings)
    doomed = lifecycle.prunable(_listed(settings, tgt), settings.older_than)
    console.info(f"{len(doomed)} key(s) registered by onboard for other instances, at least "
                 f"{settings.older_than} days old" + (":" if doomed else ""))
    console.table(_rows(doomed) if doomed else [], to_stderr=True)
    if not doomed or settings.dry_run or not _confirmed(settings, console, len(doomed)):
        console.emit_json({"removed": [], "would_remove": [k.as_json() for k in doomed]})
        return 0
    catalogue = common.providers(settings)
    names = list(dict.fromkeys(k.provider for k in doomed))
    removals: list[lifecycle.Removal] = []
    for c, name in zip(clients(settings, catalogue, names), names, strict=True):
        removals += lifecycle.remove(c, [k for k in doomed if k.provider == name])
    for r in removals:
        (console.ok if r.error is None else console.warn)(
            f"{r.listed.provider}: {'removed' if r.error is None else 'NOT removed'} '{r.listed.key.title}'"
            + (f": {r.error}" if r.error else ""))
    failed = [r for r in removals if r.error]
    if failed:
        raise PartialRemovalError(f"{len(failed)} of {len(removals)} keys were not removed",
                                  hint="run `onboard keys prune` again, or delete them on the provider's page")
    console.emit_json({"removed": [r.listed.as_json() for r in removals], "would_remove": []})
    return 0


def _confirmed(settings: Settings, console: Console, count: int) -> bool:
    """-y (or no terminal) deletes only with --confirm-delete; a person on a terminal is asked."""
    if settings.confirm_delete:
        return True
    from onboarding.prompts import Prompter

    prompter = Prompter(console, non_interactive=settings.non_interactive or settings.json)
    if not prompter.can_ask:
        console.info("nothing removed: pass --confirm-delete to remove them")
        return False
    return prompter.confirm(f"Remove these {count} key(s)?", flags="--confirm-delete", default=False)


def rotate_cmd(settings: Settings, console: Console) -> int:
    tgt = common.target(settings)
    catalogue = common.providers(settings)
    names = names_for(settings, catalogue, settings.upload)
    _check_skipped(settings, catalogue, names)
    path = common.key_path(settings, tgt)
    old_line = _public_line(settings, tgt, required=True) or ""
    sites = [rotate.Site(n, c, catalogue[n].canonical.name, catalogue[n].canonical.port, catalogue[n].user,
                         catalogue[n].add_key_url)
             for n, c in zip(names, clients(settings, catalogue, names), strict=True)]
    from onboarding.prompts import Prompter

    secret = common.passphrase(settings, Prompter(console, non_interactive=settings.non_interactive or settings.json),
                               existing=False)
    comment = settings.email or default_comment(tgt)
    new_path = rotate.staging(path)
    console.step(f"Creating the new key beside the old one ({new_path})")
    created = rotate.create_new(keys.KeyRequest(new_path, settings.key_type, settings.bits, comment, secret,
                                                settings.kdf_rounds, False, tgt.owner()))
    taking = _register_and_verify(settings, console, tgt, sites, old_line, created, secret)
    backup = rotate.swap(path, new_path)
    console.ok(f"{path} is the new key; the old pair is kept as {backup} (and .pub)")
    console.step("Removing the old key from " + ", ".join(s.provider for s in taking))
    rotate.remove_old(taking)  # raises PartialRemovalError (exit 7) naming each step left
    console.ok("the old key is gone from every provider that had it")
    console.emit_json({"backup": str(backup), "key": str(path), "fingerprint": created.fingerprint,
                       "providers": [{"provider": s.provider, "old_id": s.old.id if s.old else None,
                                      "new_id": s.new.id if s.new else None, "old_removed": s.removed}
                                     for s in taking]})
    return 0


def _check_skipped(settings: Settings, catalogue: dict[str, Provider], names: Sequence[str]) -> None:
    """The old key may be on providers rotate cannot reach: the person must say they know."""
    in_use = list(settings.providers) or list(catalogue)
    unreached = [n for n in in_use if n not in names and n not in settings.skip]
    if unreached:
        raise UsageError(f"the old key may also be registered on {', '.join(unreached)} (no API or no token): "
                         "rotate would leave it there",
                         hint=f"give their tokens, or remove it there by hand and pass --skip {','.join(unreached)}"
                              " (or --providers to list only the providers you use)")


def _register_and_verify(settings: Settings, console: Console, tgt: Target, sites: list[rotate.Site],
                         old_line: str, created: keys.KeyResult, secret: bytes | None) -> list[rotate.Site]:
    """Steps 2-3; any failure (or ^C) takes the new key back off and leaves the old one as it was."""
    try:
        console.step("Registering the new key where the old one is")
        taking = rotate.register(sites, old_line, created.public_line, title(tgt))
        if not taking:
            raise UsageError("the old key is registered on none of " + ", ".join(s.provider for s in sites),
                             hint="nothing to rotate there; `onboard keys list` shows what each account has")
        console.step("Logging in with the new key: " + ", ".join(s.provider for s in taking))
        key, _ = keys.load_private(created.path, secret)
        known_hosts = common.known_hosts_path(settings, tgt)
        rotate.verify(taking, created.path, key, "onboard rotate", known_hosts, tgt, settings.timeout)
        return taking
    except BaseException:
        for line in rotate.rollback(sites):
            console.warn(line)
        for p in (created.path, created.public_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        raise
