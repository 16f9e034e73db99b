"""`onboard config check FILE`: validate a team file without running anything.

A setup script installs the team file as /etc/onboard/team.toml, which every member's
`onboard` then reads: a typo there breaks every member's run. So the script (and a team
lead, before committing the file) checks it first, and hears of every problem at once.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from onboarding import providers as prov
from onboarding import settings as settings_mod
from onboarding.console import Console, Result
from onboarding.errors import UsageError
from onboarding.settings import Settings


def check_cmd(settings: Settings, console: Console) -> Result:
    if settings.path is None:
        raise UsageError("config check needs the team file: onboard config check FILE")
    path = settings.path.expanduser()
    options, tables, found = settings_mod.team_file_entries(path)
    origins = {name: f"{path}: [setup] {name}" for name in options}
    values = Settings(**options, origins=MappingProxyType(origins))
    found += settings_mod.problems(values)
    catalogue, more = _providers(path, tables)
    found += more
    found += _selection(path, values, catalogue)
    offline = settings.offline or values.offline
    if offline:
        found += _offline(path, values, catalogue, tables)
    summary = {"file": str(path), "setup": sorted(options), "providers": sorted(tables), "offline": offline}
    if found:
        error = settings_mod.as_one(found)
        error.result = {**summary, "problems": [e.message for e in found]}
        raise error
    console.ok(f"{path}: a valid team file ({len(options)} setting(s), {len(tables)} provider(s) of its own"
               + (", every pin a full key (--offline can write them)" if offline else "") + ")")
    return Result({**summary, "ok": True})


def _providers(path: Path, tables: dict[str, Any]) -> tuple[dict[str, prov.Provider], list[UsageError]]:
    """The catalogue with the file's providers, and what is wrong with each of them."""
    found: list[UsageError] = []
    good: dict[str, Any] = {}
    for name, raw in tables.items():
        try:
            prov.load_all([(str(path), {name: raw})])
        except UsageError as exc:
            found.append(exc)
        else:
            good[name] = raw
    try:
        return prov.load_all([(str(path), good)]), found
    except UsageError as exc:  # two of the file's own providers pin the same host
        return prov.builtin(), [*found, exc]


def _selection(path: Path, values: Settings, catalogue: dict[str, prov.Provider]) -> list[UsageError]:
    names = [*values.providers, *values.upload]
    return [UsageError(f"{path}: [setup] names the unknown provider {name!r}",
                       hint=f"known: {', '.join(catalogue)}; define it in a [providers.{name}] table")
            for name in dict.fromkeys(names) if name not in catalogue]


def _offline(path: Path, values: Settings, catalogue: dict[str, prov.Provider],
             tables: dict[str, Any]) -> list[UsageError]:
    """--offline writes the pinned keys without probing: a provider pinned by fingerprints only has
    nothing to write."""
    names = [n for n in (values.providers or tuple(tables)) if n in catalogue]
    return [UsageError(f"{path}: [providers.{name}] pins fingerprints only, and --offline needs full keys",
                       hint="give its keys = [\"ssh-ed25519 AAAA...\", ...] (from the provider's documentation), "
                            "or run without --offline so they are probed and checked against the fingerprints")
            for name in names if not catalogue[name].keys]
