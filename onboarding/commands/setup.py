"""`onboard setup`: key -> where to add it -> verify providers -> clone repos -> summary.

On a terminal (and without --non-interactive) this is the wizard; otherwise every answer
comes from flags, ONBOARD_* and the team file, and all missing answers are reported in
one go before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from onboarding import clone as cl
from onboarding import keys
from onboarding import providers as prov
from onboarding.commands import common, keygen
from onboarding.commands.clone import CloneResult, clone_one
from onboarding.commands.hosts import ensure_trusted
from onboarding.console import Console
from onboarding.errors import OnboardError, UsageError
from onboarding.instance import Target, detect_compute_instance
from onboarding.prompts import Prompter
from onboarding.settings import Settings


@dataclass
class Summary:
    key: keys.KeyResult | None = None
    providers: list[str] = field(default_factory=list)
    known_hosts: str = ""
    known_hosts_added: int = 0
    known_hosts_removed: int = 0
    clones: list[CloneResult] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": keygen.key_json(self.key) if self.key else None,
            "providers": self.providers,
            "known_hosts": {"path": self.known_hosts, "added": self.known_hosts_added,
                            "removed": self.known_hosts_removed},
            "clones": [c.as_json() for c in self.clones],
            "uploads": self.uploads,
        }


def chosen_providers(settings: Settings, catalogue: dict[str, prov.Provider]) -> list[prov.Provider]:
    """--providers, else the providers of the repositories, else every built-in one."""
    if settings.providers:
        return prov.select(catalogue, settings.providers)
    from_repos = []
    for url in settings.repos:
        u = cl.parse_url(url)
        p = prov.for_host(catalogue, u.host, u.port)
        if p is not None and p not in from_repos:
            from_repos.append(p)
    return from_repos or list(catalogue.values())


def preflight(settings: Settings, tgt: Target, catalogue: dict[str, prov.Provider]) -> None:
    """Check every answer an unattended run needs; report all that are missing or wrong at once."""
    problems: list[str] = []

    def check(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except UsageError as exc:
            problems.append(exc.message + (f" ({exc.hint})" if exc.hint else ""))
            return None

    key_file = common.key_path(settings, tgt)
    given = check(common.given_passphrase, settings)
    if given is None and not settings.no_passphrase and not problems:
        # a new key needs one; an existing key needs its own, if it has one, to be checked and used
        needs = not os.path.lexists(key_file) or settings.force or keys.is_encrypted(key_file)
        if needs:
            problems.append(f"a passphrase for {key_file}: pass {common.PASSPHRASE_FLAGS}")
    check(chosen_providers, settings, catalogue)
    for url in settings.repos:
        u = check(cl.parse_url, url)
        if u is not None:
            check(lambda u=u: cl.resolve_destination(
                u, target=settings.target, dest=None, local_root=settings.local_root,
                cloudfiles_root=settings.cloudfiles_root, cloudfiles_user_name=settings.cloudfiles_user, tgt=tgt))
    for name in settings.upload:
        from onboarding import upload as up

        if name not in up.SUPPORTED:
            problems.append(f"--upload {name}: only {', '.join(up.SUPPORTED)} have an API for keys")
        else:
            check(up.read_token, name, settings.token_file)
    if settings.dest is not None and len(settings.repos) > 1:
        problems.append("--dest names one folder, but several --repo were given")
    if problems:
        raise UsageError("cannot run unattended; missing or wrong:\n  - " + "\n  - ".join(problems),
                         hint="give these as flags, ONBOARD_* variables or in the --config team file")


def run(settings: Settings, console: Console) -> int:
    prompter = Prompter(console, non_interactive=settings.non_interactive)
    if prompter.can_ask:
        from onboarding.wizard import run_wizard

        return run_wizard(settings, console, prompter)
    return run_unattended(settings, console, prompter)


def run_unattended(settings: Settings, console: Console, prompter: Prompter) -> int:
    tgt = common.target(settings)
    catalogue = common.providers(settings)
    preflight(settings, tgt, catalogue)
    ci = detect_compute_instance(tgt.home)
    if ci:
        console.info(f"Azure ML compute instance {ci.name}: setting up {tgt.name} ({tgt.home})")
    summary = Summary()
    secret = keygen.ask_passphrase(settings, prompter, tgt)
    summary.key = keygen.ensure(settings, console, tgt, secret)
    chosen = chosen_providers(settings, catalogue)
    keygen.show_public_key(console, summary.key, chosen)
    if settings.upload:
        from onboarding.commands.keys import upload_all

        summary.uploads = [r.status for r in upload_all(settings, console, tgt, summary.key.public_line,
                                                         settings.upload)]
    summary.providers = [p.name for p in chosen]
    merged = ensure_trusted(settings, console, tgt, chosen)
    summary.known_hosts = str(common.known_hosts_path(settings, tgt))
    summary.known_hosts_added, summary.known_hosts_removed = len(merged.added), len(merged.removed)
    failures = clone_all(settings, console, prompter, tgt, catalogue, secret, summary)
    print_summary(console, summary)
    console.emit_json(summary.as_json())
    if failures:
        raise failures[0]
    return 0


def clone_all(settings: Settings, console: Console, prompter: Prompter, tgt: Target,
              catalogue: dict[str, prov.Provider], secret: bytes | None, summary: Summary) -> list[OnboardError]:
    """Clone each repository; one failure does not stop the others, the first decides the exit code."""
    failures: list[OnboardError] = []
    verified = set(summary.providers)  # verified a moment ago in this run: not again per clone
    for url in settings.repos:
        try:
            summary.clones.append(clone_one(settings, console, prompter, tgt, url, catalogue=catalogue,
                                            secret=secret, existing_ok=True, verified=verified))
        except OnboardError as exc:
            console.error(f"{url}: {exc.message}", exc.hint)
            failures.append(exc)
    return failures


def print_summary(console: Console, summary: Summary, *, next_steps: bool = True) -> None:
    console.info("")
    console.step("Summary")
    if summary.key:
        console.info(f"  key          {summary.key.path} ({summary.key.status}, {summary.key.fingerprint})")
    if summary.known_hosts:
        console.info(f"  known_hosts  {summary.known_hosts} (+{summary.known_hosts_added} "
                     f"-{summary.known_hosts_removed} lines; pinned: {', '.join(summary.providers)})")
    for c in summary.clones:
        console.info(f"  clone        {c.path} ({c.status}, {c.target})")
    if next_steps:
        console.info("Next: add the public key shown above to your provider if you have not yet, then run "
                     "`onboard doctor --auth-test`; `onboard git-info` in a clone shows what Azure ML will record.")
