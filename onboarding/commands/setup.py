"""`onboard setup`: the wizard on a terminal, else the unattended run (pre-check first)."""

from __future__ import annotations

from onboarding import pipeline
from onboarding.console import Console, Result
from onboarding.errors import UsageError
from onboarding.instance import detect_compute_instance
from onboarding.pipeline.checks import preflight
from onboarding.secrets import Secrets
from onboarding.settings import Settings


def run(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = pipeline.Run.start(settings, secrets, console)
    bad = [*settings.problems, *secrets.problems]  # a passphrase source that failed is a bad option too
    if bad and r.prompter.can_ask:  # the wizard asks nothing on top of bad flags
        if len(bad) == 1 and not settings.problems:
            raise UsageError(bad[0])  # alone, as it read before the pre-check learnt to collect it
        raise UsageError("bad options:\n  - " + "\n  - ".join(bad), hint="fix them, then run again")
    if r.prompter.can_ask:
        from onboarding.wizard import Wizard

        return Result(pipeline.run(r, Wizard(r)).as_json())
    try:
        preflight(r)
    except UsageError as exc:
        if not settings.non_interactive:  # the person may have expected the wizard: say why there is none
            why = f"cannot run unattended ({_no_wizard(console)})"
            exc.message = exc.message.replace("cannot run unattended", why, 1)
        raise
    ci = detect_compute_instance(r.target.home)
    if ci:
        console.info(f"Azure ML compute instance {ci.name}: setting up {r.target.name} ({r.target.home})")
    return Result(pipeline.run(r, pipeline.Hooks()).as_json())


def _no_wizard(console: Console) -> str:
    if not console.stdout_isatty:
        return "no wizard: standard output is not a terminal, e.g. `onboard | tee log`; run it on the terminal itself"
    return "no wizard: standard input is not a terminal"
