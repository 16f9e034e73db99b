"""`onboard unlock` / `onboard lock`: the key in the user's persistent ssh-agent (day two)."""

from __future__ import annotations

from onboarding import doctor
from onboarding import providers as prov
from onboarding.console import Console, Result
from onboarding.pipeline import Run, unlockstage
from onboarding.secrets import Secrets
from onboarding.settings import Settings


def _chosen(r: Run) -> list[prov.Provider]:
    """--providers or the team file's list, else the providers known_hosts already trusts."""
    if r.settings.providers:
        return prov.select(r.catalogue, r.settings.providers)
    return doctor.present_providers(r.catalogue, r.known_hosts)


def unlock_cmd(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    done = unlockstage.unlock(r, _chosen(r), settings.lifetime)
    if done.status == "already unlocked":
        console.ok(f"already unlocked: {r.key_path} ({done.fingerprint}) is in the agent at {done.socket}")
    else:
        until = f"for {done.lifetime} s" if done.lifetime else "until the agent stops (the instance stops)"
        console.ok(f"unlocked {r.key_path} ({done.fingerprint}) in the agent at {done.socket}, {until}")
    for path in done.changed:
        console.info(f"{path} now names the agent")
    console.info(f"Who can use it: {unlockstage.REACH}.")
    return Result({"ok": True, "key": str(r.key_path), **done.as_json()})


def lock_cmd(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    done = unlockstage.lock(r)
    if done["status"] == "locked":
        console.ok(f"locked: {r.key_path} ({done['fingerprint']}) left the agent at {done['socket']}")
    else:
        console.ok(f"nothing to lock: the agent at {done['socket']} does not hold {r.key_path}")
    return Result({"ok": True, "key": str(r.key_path), **done})
