"""`onboard doctor`: read-only checks, each pass/warn/fail with its fix; exit 0 only if none fails."""

from __future__ import annotations

import os
from dataclasses import asdict

from onboarding import doctor
from onboarding import providers as prov
from onboarding.console import Console, Result
from onboarding.errors import OnboardError
from onboarding.pipeline import Run
from onboarding.secrets import PASSPHRASE_FLAGS, Secrets
from onboarding.settings import Settings

MARK = {"pass": ("ok", "green"), "warn": ("!!", "yellow"), "fail": ("XX", "red")}


class DoctorFailed(OnboardError):
    """At least one check failed (exit 1); the checks themselves were printed."""


def _chosen(r: Run) -> tuple[list[prov.Provider], list[doctor.Check]]:
    """--providers or the team file's list (system file or --config), else the providers already in
    known_hosts: a provider this person does not use is not a failure."""
    if r.settings.providers:
        return prov.select(r.catalogue, r.settings.providers), []
    present = doctor.present_providers(r.catalogue, r.known_hosts)
    if present:
        return present, []
    return [], [doctor.Check("known-hosts", "warn", f"{r.known_hosts} trusts no pinned provider yet",
                             "onboard hosts verify PROVIDER (e.g. github); for a server your team pins, "
                             "run doctor with its team file: --config FILE")]


def _passphrase(r: Run) -> bytes | None:
    """For --auth-test with a passphrase key: given (Secrets), else asked on a terminal, else None."""
    from onboarding.keys import is_encrypted

    key = r.key_path
    if not os.path.lexists(key) or not is_encrypted(key):
        return None
    if r.secrets.passphrase is not None or not r.prompter.can_ask:
        return r.secrets.passphrase
    return r.ask_existing_passphrase()


def run(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    chosen, notes = _chosen(r)
    key, kh, tgt = r.key_path, r.known_hosts, r.target
    checks = [doctor.check_git(), *doctor.check_key(key, tgt), *doctor.check_known_hosts(kh, chosen), *notes,
              *doctor.check_ssh_config(tgt.ssh_dir / "config"), *doctor.check_cloudfiles(tgt),
              *doctor.check_agent(key, tgt), *doctor.check_signing(tgt),
              *doctor.check_routes(chosen, tgt.ssh_dir / "config")]
    if settings.auth_test:
        checks += doctor.auth_checks(chosen, key, kh, settings.timeout, _passphrase(r),
                                     passphrase_hint=f"pass {PASSPHRASE_FLAGS.rsplit(', or', 1)[0]}",
                                     repos=settings.repos, config=tgt.ssh_dir / "config")
    for c in checks:
        mark, colour = MARK[c.status]
        console.out(f"{c.name:24} {c.detail}", mark=(mark, colour))
        if c.fix and c.status != "pass":
            console.out(f"   {'':24} fix: {c.fix}")
    failed = [c for c in checks if c.status == "fail"]
    data = {"ok": not failed, "checks": [asdict(c) for c in checks]}
    if failed:
        hint = "each failed check in result.checks has its fix" if console.json_mode else "apply the fixes shown above"
        raise DoctorFailed(f"{len(failed)} of {len(checks)} checks failed", hint=hint, result=data)
    return Result(data)
