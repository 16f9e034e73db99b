"""setup's stages in order, the only place that sequences them: key -> show/upload -> hosts ->
git identity -> (keep unlocked) -> clone -> summary.

The unattended run, the wizard and the demo all call `run`; they differ only in their
`Hooks` (the wizard asks and confirms between stages; the unattended run takes every
answer from Settings; the demo is the unattended run against the sandbox).
"""

from __future__ import annotations

from onboarding import identity
from onboarding.errors import NetworkError
from onboarding.pipeline.clonestage import clone_all
from onboarding.pipeline.context import Run, Summary
from onboarding.pipeline.hooks import Hooks
from onboarding.pipeline.signingstage import ensure_signing
from onboarding.pipeline.stages import (
    ensure_identity,
    ensure_key,
    ensure_trusted,
    fill_users,
    show_public_key,
)
from onboarding.pipeline.unlockstage import keep_unlocked

__all__ = ["Hooks", "Run", "Summary", "run"]


def run(r: Run, hooks: Hooks) -> Summary:
    """The whole setup; raises the first clone failure (with the summary as its result)."""
    summary = Summary()
    r = hooks.before_key(r)
    r = r.with_passphrase(r.passphrase_for_key())
    summary.key = ensure_key(r, r.secrets.passphrase, hooks.pregenerated(r))
    r, chosen = hooks.providers(r, summary.key)
    summary.providers = [p.name for p in chosen]
    if hooks.show_key(r, summary.key, chosen):
        show_public_key(r.console, summary.key, chosen)
    summary.uploads = hooks.upload(r, summary.key, chosen)
    hooks.key_added(r, summary)
    try:
        merged = ensure_trusted(r, chosen)
    except NetworkError as exc:
        if not hooks.hosts_unreachable(r, exc):
            raise
        r = r.with_settings(offline=True)  # the pins are known: written as they are, no probe
        summary.offline_hosts = True
        merged = ensure_trusted(r, chosen)
    summary.record_hosts(r, merged)
    hooks.after_hosts(r, summary)
    summary.identity = ensure_identity(r, hooks.identity(r, identity.read(), summary.key))
    if r.settings.signing:
        summary.signing = ensure_signing(r, summary.key)
    r = fill_users(hooks.before_clone(r))
    if hooks.keep_unlocked(r):
        summary.unlocked = keep_unlocked(r, chosen)
    failures = clone_all(r, summary)
    hooks.summarize(r, summary)
    if failures:
        failures[0].result = summary.as_json()
        raise failures[0]
    return summary
