"""`onboard doctor`: read-only checks, each pass/warn/fail with its fix; exit 0 only if none fails."""

from __future__ import annotations

from dataclasses import asdict

from onboarding import doctor
from onboarding import providers as prov
from onboarding.console import Console, Result
from onboarding.errors import OnboardError
from onboarding.pipeline import Run
from onboarding.secrets import Secrets
from onboarding.settings import Settings

MARK = {"pass": ("ok", "green"), "warn": ("!!", "yellow"), "fail": ("XX", "red")}


class DoctorFailed(OnboardError):
    """At least one check failed (exit 1); the checks themselves were printed."""


def run(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    chosen = prov.select(r.catalogue, settings.providers or tuple(r.catalogue))
    key, kh, tgt = r.key_path, r.known_hosts, r.target
    checks = [doctor.check_git(), *doctor.check_key(key, tgt), *doctor.check_known_hosts(kh, chosen),
              *doctor.check_ssh_config(tgt.ssh_dir / "config"), *doctor.check_cloudfiles(tgt)]
    if settings.auth_test:
        checks += [doctor.check_auth(p, key, kh, settings.timeout) for p in chosen]
    for c in checks:
        mark, colour = MARK[c.status]
        console.out(f"{console.style(mark, colour)} {c.name:24} {c.detail}")
        if c.fix and c.status != "pass":
            console.out(f"   {'':24} fix: {c.fix}")
    failed = [c for c in checks if c.status == "fail"]
    data = {"ok": not failed, "checks": [asdict(c) for c in checks]}
    if failed:
        raise DoctorFailed(f"{len(failed)} of {len(checks)} checks failed", hint="apply the fixes shown above",
                           result=data)
    return Result(data)
