"""The clone stage: trust the host, choose how ssh authenticates, clone each repository."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from onboarding import clone as cl
from onboarding import hostkeys, keys, known_hosts, sshconfig
from onboarding import providers as prov
from onboarding.errors import GitError, HostKeyError, OnboardError, UsageError
from onboarding.pipeline.context import Run, Summary
from onboarding.secrets import PASSPHRASE_FLAGS

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

CloneStatus = Literal["cloned", "exists"]


@dataclass(frozen=True)
class CloneResult:
    url: str
    path: str
    target: str
    status: CloneStatus

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "path": self.path, "target": self.target, "status": self.status}


def trust_host(r: Run, url: cl.RepoUrl, verified: set[str]) -> prov.Provider | None:
    """Pinned provider: verify (once per run). Known host: accept. Anything else: ask, or refuse (exit 3)."""
    from onboarding.pipeline.stages import ensure_trusted

    provider = prov.for_host(r.catalogue, url.host, url.port)
    if provider is not None:
        if provider.name not in verified:
            ensure_trusted(r, [provider])
            verified.add(provider.name)
        return provider
    kh = r.known_hosts
    pattern = prov.Host(url.host.lower(), url.port).pattern
    if known_hosts.keys_for(known_hosts.read_lines(kh), pattern):
        r.console.ok(f"{pattern} is already in {kh}")
        return None
    if not r.prompter.can_ask:
        raise HostKeyError(
            f"{pattern} is not a pinned provider and not in {kh}; refusing to trust it on first use",
            hint="pin it: a [providers.NAME] table with its fingerprints in --providers-file or the team file "
            "(see docs/host-keys.md), then run again",
        )
    _ask_unknown_host(r, url, pattern)
    return None


def _ask_unknown_host(r: Run, url: cl.RepoUrl, pattern: str) -> None:
    host = prov.Host(url.host.lower(), url.port)
    live = {}
    for key_type in hostkeys.PROBE_TYPES:
        try:
            live[key_type] = hostkeys.probe_key(host, key_type, r.settings.timeout)
        except hostkeys.NotOffered:
            continue
    r.console.info(f"{pattern} is not a pinned provider. It presents:")
    for text in live.values():
        r.console.info(f"  {text.split()[0]:22} {keys.fingerprint_of_line(text)}")
    r.console.info("Compare with the fingerprints your administrator published (not with this screen).")
    if not live or not r.prompter.confirm(f"Trust {pattern} with these keys?", flags="--providers-file",
                                          default=False):
        raise HostKeyError(f"{pattern} was not trusted; nothing was cloned")
    pins = [known_hosts.Pin(pattern, tuple(live.values()), exclusive=False)]
    known_hosts.update(r.known_hosts, pins, (), hashed=False, owner=None)


def ssh_options(r: Run, secret: bytes | None) -> tuple[cl.SshOptions, PrivateKeyTypes | None]:
    """How ssh will authenticate; returns the options and the decrypted key for a private agent."""
    key_file, kh = r.key_path, r.known_hosts
    timeout = r.settings.timeout
    if not os.path.lexists(key_file):
        raise UsageError(f"no SSH key at {key_file}", hint="run `onboard keygen` first, or pass --key-file")
    if not keys.is_encrypted(key_file):
        return cl.SshOptions(key_file, kh, batch=not r.prompter.can_ask, connect_timeout=timeout), None
    secret = secret if secret is not None else r.secrets.passphrase
    if secret is not None:
        key, _ = keys.load_private(key_file, secret)
        return cl.SshOptions(key_file, kh, batch=True, connect_timeout=timeout), key
    if r.prompter.can_ask:  # ssh asks on the terminal itself
        return cl.SshOptions(key_file, kh, batch=False, connect_timeout=timeout), None
    sock = os.environ.get("SSH_AUTH_SOCK")
    if sock:
        r.console.info("using the ssh-agent of this session (SSH_AUTH_SOCK) for the passphrase-protected key")
        return cl.SshOptions(key_file, kh, batch=True, agent_sock=Path(sock), connect_timeout=timeout), None
    raise r.prompter.refuse(f"the passphrase of {key_file}", PASSPHRASE_FLAGS)


def clone_one(r: Run, url_text: str, *, secret: bytes | None, verified: set[str]) -> CloneResult:
    s, console = r.settings, r.console
    url = cl.parse_url(url_text)
    dest = cl.resolve_destination(url, target=s.target, dest=s.dest, local_root=s.local_root,
                                  cloudfiles_root=s.cloudfiles_root, cloudfiles_user_name=s.cloudfiles_user,
                                  tgt=r.target)
    if cl.same_repository(cl.existing_clone_url(dest.path), url.text):
        console.ok(f"{dest.path} is already a clone of {url.text}: kept as it is")
        return CloneResult(url.text, str(dest.path), dest.target, "exists")
    cl.check_free(dest.path)
    provider = trust_host(r, url, verified)
    options, key = ssh_options(r, secret)
    if sshconfig.needs_block(options.key, r.target.home):
        hosts = [h.name for h in provider.hosts] if provider else [url.host]
        config = r.target.ssh_dir / "config"
        if sshconfig.update(config, hosts, options.key, r.target.home, None):
            console.info(f"{config}: {', '.join(hosts)} use {options.key} (managed block)")
    if dest.target in cl.TRADE_OFF:
        console.info(f"Cloning to {cl.TRADE_OFF[dest.target]}.")
    console.step(f"Cloning {url.text} into {dest.path}")
    progress = console.interactive and not console.quiet and not console.json_mode
    try:
        _run(r, url, dest.path, options, key, progress)
    except GitError as exc:
        where = provider.add_key_url if provider and provider.add_key_url else "your Git provider"
        exc.hint = (f"if git said 'Permission denied (publickey)': add {options.key}.pub at {where}; "
                    "run with --verbose for ssh's details")
        raise
    console.ok(f"cloned {url.text} -> {dest.path}")
    return CloneResult(url.text, str(dest.path), dest.target, "cloned")


def _run(r: Run, url: cl.RepoUrl, dest: Path, options: cl.SshOptions, key: PrivateKeyTypes | None,
         progress: bool) -> None:
    s = r.settings
    if key is None:
        cl.run_clone(url, dest, options, branch=s.branch, depth=s.depth, progress=progress)
        return
    from onboarding.agent import private_agent

    with private_agent(key, f"onboard:{options.key}") as sock:
        o = cl.SshOptions(options.key, options.known_hosts, batch=True, agent_sock=sock,
                          connect_timeout=options.connect_timeout)
        cl.run_clone(url, dest, o, branch=s.branch, depth=s.depth, progress=progress)


def clone_all(r: Run, summary: Summary) -> list[OnboardError]:
    """Clone each repository; one failure does not stop the others, the first decides the exit code."""
    failures: list[OnboardError] = []
    verified = set(summary.providers)  # verified a moment ago in this run: not again per clone
    secret = r.secrets.passphrase
    for url in r.settings.repos:
        try:
            summary.clones.append(clone_one(r, url, secret=secret, verified=verified))
        except OnboardError as exc:
            if len(r.settings.repos) > 1:  # a lone failure is reported once, as the run's error
                r.console.error(f"{url}: {exc.message}", exc.hint)
            failures.append(exc)
    return failures
