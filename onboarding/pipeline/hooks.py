"""Where the front ends differ: the unattended run takes every answer from Settings; the
wizard (wizard.py) overrides these to ask and confirm between the stages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onboarding import clone as cl
from onboarding import keys
from onboarding import providers as prov
from onboarding.errors import NetworkError
from onboarding.identity import Identity
from onboarding.pipeline.context import Run, Summary

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


def chosen_providers(r: Run) -> list[prov.Provider]:
    """--providers, else the providers of the repositories, else every built-in one."""
    s, catalogue = r.settings, r.catalogue
    if s.providers:
        return prov.select(catalogue, s.providers)
    from_repos: list[prov.Provider] = []
    for url in s.repos:
        u = cl.parse_url(url)
        p = prov.for_host(catalogue, u.host, u.port)
        if p is not None and p not in from_repos:
            from_repos.append(p)
    return from_repos or list(catalogue.values())


class Hooks:
    """The unattended run: no questions; every answer was checked by the pre-check."""

    next_steps = True

    def before_key(self, r: Run) -> Run:
        return r

    def pregenerated(self, r: Run) -> PrivateKeyTypes | None:
        """A new key made ahead of time (the wizard starts RSA while asking), else None."""
        return None

    def providers(self, r: Run, key: keys.KeyResult) -> tuple[Run, list[prov.Provider]]:
        return r, chosen_providers(r)

    def show_key(self, r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> bool:
        return True

    def upload(self, r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> list[str]:
        if not r.settings.upload:
            return []
        from onboarding.pipeline.upload import upload_all

        return [res.status for res in upload_all(r, key.public_line, r.settings.upload)]

    def key_added(self, r: Run, summary: Summary) -> None:
        pass

    def hosts_unreachable(self, r: Run, exc: NetworkError) -> bool:
        """The probes failed for want of network: True writes the pinned keys without probing."""
        return False

    def after_hosts(self, r: Run, summary: Summary) -> None:
        pass

    def identity(self, r: Run, current: Identity, key: keys.KeyResult) -> Identity:
        """The git user.name / user.email wanted: --git-name and an email given explicitly
        (--email or the team file's), never the user@host default of the key comment."""
        return Identity(r.settings.git_name, r.settings.email)

    def before_clone(self, r: Run) -> Run:
        return r

    def keep_unlocked(self, r: Run) -> bool:
        """Keep the key in the persistent agent (day two): --keep-unlocked or the team file's key."""
        return r.settings.keep_unlocked

    def summarize(self, r: Run, summary: Summary) -> None:
        from onboarding.pipeline.stages import print_summary

        # "add the key" is only news when no clone has shown that the key works
        print_summary(r.console, summary, next_steps=self.next_steps and not summary.clones)
