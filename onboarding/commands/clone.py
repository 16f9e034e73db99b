"""`onboard clone URL`: trust the host, pick the disk, clone over SSH without ever hanging."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboarding import clone as cl
from onboarding import hostkeys, keys, known_hosts, sshconfig
from onboarding import providers as prov
from onboarding.commands import common
from onboarding.commands.hosts import ensure_trusted
from onboarding.console import Console
from onboarding.errors import GitError, HostKeyError, UsageError
from onboarding.instance import Target
from onboarding.prompts import Prompter
from onboarding.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


@dataclass(frozen=True)
class CloneResult:
    url: str
    path: str
    target: str
    status: str  # cloned, exists

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "path": self.path, "target": self.target, "status": self.status}


def trust_host(settings: Settings, console: Console, prompter: Prompter, tgt: Target, url: cl.RepoUrl,
               catalogue: dict[str, prov.Provider], verified: set[str]) -> prov.Provider | None:
    """Pinned provider: verify (once per run). Known host: accept. Anything else: ask, or refuse (exit 3)."""
    provider = prov.for_host(catalogue, url.host, url.port)
    if provider is not None:
        if provider.name not in verified:
            ensure_trusted(settings, console, tgt, [provider])
            verified.add(provider.name)
        return provider
    kh = common.known_hosts_path(settings, tgt)
    pattern = prov.Host(url.host.lower(), url.port).pattern
    if known_hosts.keys_for(known_hosts.read_lines(kh), pattern):
        console.ok(f"{pattern} is already in {kh}")
        return None
    if not prompter.can_ask:
        raise HostKeyError(
            f"{pattern} is not a pinned provider and not in {kh}; refusing to trust it on first use",
            hint="pin it: a [providers.NAME] table with its fingerprints in --providers-file or the team file "
            "(see docs/host-keys.md), then run again",
        )
    _ask_unknown_host(settings, console, prompter, tgt, url, pattern)
    return None


def _ask_unknown_host(settings: Settings, console: Console, prompter: Prompter, tgt: Target,
                      url: cl.RepoUrl, pattern: str) -> None:
    host = prov.Host(url.host.lower(), url.port)
    live = {}
    for key_type in hostkeys.PROBE_TYPES:
        try:
            live[key_type] = hostkeys.probe_key(host, key_type, settings.timeout)
        except hostkeys.NotOffered:
            continue
    console.info(f"{pattern} is not a pinned provider. It presents:")
    for text in live.values():
        console.info(f"  {text.split()[0]:22} {keys.fingerprint_of_line(text)}")
    console.info("Compare with the fingerprints your administrator published (not with this screen).")
    if not live or not prompter.confirm(f"Trust {pattern} with these keys?", flags="--providers-file", default=False):
        raise HostKeyError(f"{pattern} was not trusted; nothing was cloned")
    pins = [known_hosts.Pin(pattern, tuple(live.values()), exclusive=False)]
    known_hosts.update(common.known_hosts_path(settings, tgt), pins, (), hashed=False, owner=tgt.owner())


def ssh_options(settings: Settings, console: Console, prompter: Prompter, tgt: Target,
                secret: bytes | None) -> tuple[cl.SshOptions, PrivateKeyTypes | None]:
    """How ssh will authenticate; returns the options and the decrypted key for a private agent."""
    key_file = common.key_path(settings, tgt)
    if not os.path.lexists(key_file):
        raise UsageError(f"no SSH key at {key_file}", hint="run `onboard keygen` first, or pass --key-file")
    kh = common.known_hosts_path(settings, tgt)
    if not keys.is_encrypted(key_file):
        return cl.SshOptions(key_file, kh, batch=not prompter.can_ask), None
    secret = secret if secret is not None else common.given_passphrase(settings)
    if secret is not None:
        key, _ = keys.load_private(key_file, secret)
        return cl.SshOptions(key_file, kh, batch=True), key
    if prompter.can_ask:
        return cl.SshOptions(key_file, kh, batch=False), None  # ssh asks on the terminal itself
    if os.environ.get("SSH_AUTH_SOCK"):
        console.info("using the ssh-agent of this session (SSH_AUTH_SOCK) for the passphrase-protected key")
        return cl.SshOptions(key_file, kh, batch=True), None
    raise prompter.refuse(f"the passphrase of {key_file}", common.PASSPHRASE_FLAGS)


def clone_one(settings: Settings, console: Console, prompter: Prompter, tgt: Target, url_text: str, *,
              catalogue: dict[str, prov.Provider], secret: bytes | None, existing_ok: bool,
              verified: set[str] | None = None) -> CloneResult:
    url = cl.parse_url(url_text)
    dest = cl.resolve_destination(url, target=settings.target, dest=settings.dest, local_root=settings.local_root,
                                  cloudfiles_root=settings.cloudfiles_root,
                                  cloudfiles_user_name=settings.cloudfiles_user, tgt=tgt)
    if existing_ok and cl.existing_clone_url(dest.path) == url.text:
        console.ok(f"{dest.path} is already a clone of {url.text}: kept as it is")
        return CloneResult(url.text, str(dest.path), dest.target, "exists")
    cl.check_free(dest.path)
    provider = trust_host(settings, console, prompter, tgt, url, catalogue, verified if verified is not None else set())
    options, key = ssh_options(settings, console, prompter, tgt, secret)
    if sshconfig.needs_block(options.key, tgt.home):
        hosts = [h.name for h in provider.hosts] if provider else [url.host]
        if sshconfig.update(tgt.ssh_dir / "config", hosts, options.key, tgt.home, tgt.owner()):
            console.info(f"{tgt.ssh_dir / 'config'}: {', '.join(hosts)} use {options.key} (managed block)")
    if dest.target in cl.TRADE_OFF:
        console.info(f"Cloning to {cl.TRADE_OFF[dest.target]}.")
    console.step(f"Cloning {url.text} into {dest.path}")
    progress = console.interactive and not console.quiet and not console.json_mode
    try:
        _run(url, dest.path, options, key, tgt, settings, progress)
    except GitError as exc:
        where = provider.add_key_url if provider and provider.add_key_url else "your Git provider"
        exc.hint = (f"if git said 'Permission denied (publickey)': add {options.key}.pub at {where}; "
                    "run with --verbose for ssh's details")
        raise
    console.ok(f"cloned {url.text} -> {dest.path}")
    return CloneResult(url.text, str(dest.path), dest.target, "cloned")


def _run(url: cl.RepoUrl, dest: Path, options: cl.SshOptions, key: PrivateKeyTypes | None, tgt: Target,
         settings: Settings, progress: bool) -> None:
    if key is None:
        cl.run_clone(url, dest, options, tgt, branch=settings.branch, depth=settings.depth, progress=progress)
        return
    from onboarding.agent import private_agent

    with private_agent(key, f"onboard:{options.key}", tgt) as sock:
        o = cl.SshOptions(options.key, options.known_hosts, batch=True, agent_sock=sock)
        cl.run_clone(url, dest, o, tgt, branch=settings.branch, depth=settings.depth, progress=progress)


def run(settings: Settings, console: Console) -> int:
    if len(settings.repos) != 1:
        raise UsageError("give exactly one repository URL to `onboard clone`")
    tgt = common.target(settings)
    prompter = Prompter(console, non_interactive=settings.non_interactive)
    result = clone_one(settings, console, prompter, tgt, settings.repos[0], catalogue=common.providers(settings),
                       secret=None, existing_ok=False)
    console.out(result.path)
    console.emit_json(result.as_json())
    return 0
