"""The unattended pre-check: every answer a run needs, all problems reported at once, before
anything is written (exit 2)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from onboarding import clone as cl
from onboarding import providers as prov
from onboarding.errors import UsageError
from onboarding.pipeline.context import Run
from onboarding.pipeline.hooks import chosen_providers
from onboarding.secrets import PASSPHRASE_FLAGS


def preflight(r: Run) -> None:
    s = r.settings
    problems: list[str] = list(s.problems)  # bad option values, kept by settings.validate(defer=True)

    def check(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except UsageError as exc:
            text = exc.message + (f" ({exc.hint})" if exc.hint else "")
            if text not in problems:
                problems.append(text)
            return None

    problems += [p for p in r.secrets.problems if p not in problems]  # the passphrase source given failed
    if r.secrets.passphrase is None and not s.no_passphrase and not r.secrets.problems and r.needs_passphrase():
        problems.append(f"a passphrase for {r.key_path}: pass {PASSPHRASE_FLAGS}")
    chosen = check(chosen_providers, r) or []
    from onboarding.hostkeys import check_mode

    check(check_mode, chosen, s.ssh_over_443, s.origins.get("ssh_over_443", "--ssh-over-443"))  # before the key
    for url in s.repos:
        u = check(cl.parse_url, url)
        if u is None:
            continue
        check(lambda u=u: cl.resolve_destination(
            u, target=s.target, dest=None, local_root=s.local_root, cloudfiles_root=s.cloudfiles_root,
            cloudfiles_user_name=s.cloudfiles_user, tgt=r.target))
        check(_trusted_or_pinned, r, u, chosen)
    if s.upload:
        from onboarding.pipeline.upload import clients, names_for

        names = check(names_for, r, s.upload)
        if names:
            check(clients, r, names)  # each provider's API and token, before anything is written
    if s.keep_unlocked:
        from onboarding import useragent

        check(useragent.socket_path, r.target.home)  # a home too deep for a Unix socket: said before any write
    if s.signing:
        from onboarding import signing

        check(signing.email_for, s.email)  # allowed_signers names the signer by it
    if s.dest is not None and len(s.repos) > 1:
        problems.append("--dest names one folder, but several --repo were given")
    if problems:
        raise UsageError("cannot run unattended; missing or wrong:\n  - " + "\n  - ".join(problems),
                         hint="give these as flags, ONBOARD_* variables or in the --config team file "
                              "(a passphrase only as a flag or variable: a team file never holds one)")


def _trusted_or_pinned(r: Run, u: cl.RepoUrl, chosen: list[prov.Provider]) -> None:
    """An unpinned host not already in known_hosts would stop the run after the key was written."""
    if prov.for_host(r.catalogue, u.host, u.port) is not None:
        return
    from onboarding import known_hosts

    pattern = prov.Host(u.host.lower(), u.port).pattern
    if os.path.exists(r.known_hosts) and known_hosts.keys_for(known_hosts.read_lines(r.known_hosts), pattern):
        return
    raise UsageError(f"{u.text}: {pattern} is not a pinned provider and not in {r.known_hosts}",
                     hint="pin it with a [providers.NAME] table in --providers-file or the team file")
