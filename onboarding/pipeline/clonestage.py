"""The clone stage: trust the host, choose how ssh authenticates, clone each repository."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from onboarding import clone as cl
from onboarding import fsutil, hostkeys, keys, known_hosts, repourl, sshconfig
from onboarding import providers as prov
from onboarding.console import Board
from onboarding.errors import ConflictError, GitError, HostKeyError, OnboardError, UsageError
from onboarding.pipeline.context import Run, Summary
from onboarding.pipeline.stages import ensure_trusted
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


@dataclass(frozen=True)
class _Planned:
    url: cl.RepoUrl
    dest: cl.Destination
    provider: prov.Provider | None


def _prepare(r: Run, url_text: str, verified: set[str]) -> CloneResult | _Planned:
    """Everything before git, one repository at a time: URL, destination, host trust, ssh config."""
    s = r.settings
    url = cl.parse_url(url_text)
    dest = cl.resolve_destination(url, target=s.target, dest=s.dest, local_root=s.local_root,
                                  cloudfiles_root=s.cloudfiles_root, cloudfiles_user_name=s.cloudfiles_user,
                                  tgt=r.target)
    if cl.same_repository(cl.existing_clone_url(dest.path), url.text):
        r.console.ok(f"{dest.path} is already a clone of {repourl.mask(url.text)}: kept as it is")
        return CloneResult(url.text, str(dest.path), dest.target, "exists")
    cl.check_free(dest.path)
    provider = trust_host(r, url, verified)
    hosts = [h.name for h in provider.hosts] if provider else [url.host]
    config = r.target.ssh_dir / "config"
    name = provider.name if provider else url.host
    if sshconfig.update(config, name, hosts, None, **sshconfig.key_change(r.key_path, r.target.home)):
        r.console.info(f"{config}: {', '.join(hosts)} use {r.key_path} (managed block)")
    if provider is not None:
        _warn_explicit_port(r, url, provider, config)
    return _Planned(url, dest, provider)


def _warn_explicit_port(r: Run, url: cl.RepoUrl, provider: prov.Provider, config: Path) -> None:
    """git passes a port named in the URL as `ssh -p`, which wins over the block's `Port`: such a
    remote cannot follow the fallback mapping (SSH over 443) the block holds for its provider."""
    if not cl.names_port(url):
        return
    mapped = next((st for st in sshconfig.read(fsutil.read_bytes(config) or b"")
                   if st.name == provider.name and st.port is not None), None)
    if mapped is not None and url.port != mapped.port:
        r.console.warn(f"{repourl.mask(url.text)} names port {url.port}: ssh's -p wins over the managed block's `Port "
                       f"{mapped.port}`, so this remote cannot follow the fallback mapping of {provider.name} "
                       "(port 22 is blocked here); write the URL without the port")


def _with_hint(exc: OnboardError, r: Run, provider: prov.Provider | None) -> OnboardError:
    if isinstance(exc, GitError):
        where = provider.add_key_url if provider and provider.add_key_url else "your Git provider"
        exc.hint = (f"if git said 'Permission denied (publickey)': add {r.key_path}.pub at {where}; "
                    "run with --verbose for ssh's details")
    return exc


def clone_one(r: Run, url_text: str, *, secret: bytes | None, verified: set[str]) -> CloneResult:
    """`onboard clone`: one repository, git's own progress on the terminal (ssh may ask there)."""
    console = r.console
    planned = _prepare(r, url_text, verified)
    if isinstance(planned, CloneResult):
        return planned
    url, dest = planned.url, planned.dest
    options, key = ssh_options(r, secret)
    if dest.target in cl.TRADE_OFF:
        console.para(f"Cloning to {cl.TRADE_OFF[dest.target]}.")
    console.step(f"Cloning {repourl.mask(url.text)} into {dest.path}")
    # Acting for another user (root's --user), git gets no terminal: the user's ssh config and hooks
    # run under it, and a process left behind would keep reading what root types there afterwards.
    progress = console.interactive and not console.quiet and not console.json_mode and r.settings.user is None
    try:
        _run(r, url, dest.path, options, key, progress)
    except OnboardError as exc:
        raise _with_hint(exc, r, planned.provider) from None
    console.ok(f"cloned {repourl.mask(url.text)} -> {dest.path}")
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


# -- setup: every repository, concurrently ---------------------------------------------------
def clone_all(r: Run, summary: Summary) -> list[OnboardError]:
    """Clone each repository, up to clonemany.MAX_PARALLEL at once; one failure does not stop the
    others, each is reported with its own reason, and the first in the list's order comes first."""
    repos = r.settings.repos
    verified = set(summary.providers)  # verified a moment ago in this run: not again per clone
    outcomes: list[CloneResult | OnboardError | _Planned] = []
    seen: set[Path] = set()
    for text in repos:  # host checks, questions and config writes: one at a time, before any git
        try:
            outcomes.append(_unique(_prepare(r, text, verified), seen))
        except OnboardError as exc:
            outcomes.append(exc)
    planned = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, _Planned)]
    if planned:
        errors = _clone_planned(r, [p for _, p in planned])
        for (i, p), err in zip(planned, errors, strict=True):
            outcomes[i] = (_with_hint(err, r, p.provider) if err is not None
                           else CloneResult(p.url.text, str(p.dest.path), p.dest.target, "cloned"))
    return _report(r, summary, repos, outcomes)


def _unique(planned: CloneResult | _Planned, seen: set[Path]) -> CloneResult | _Planned:
    """Two repositories cloned into one folder at once would undo each other's work."""
    if isinstance(planned, _Planned):
        if planned.dest.path in seen:
            raise ConflictError(f"another repository of this run is cloned into {planned.dest.path}",
                                hint="clone one of them with `onboard clone URL --dest DIR`")
        seen.add(planned.dest.path)
    return planned


def _report(r: Run, summary: Summary, repos: Sequence[str],
            outcomes: list[CloneResult | OnboardError | _Planned]) -> list[OnboardError]:
    failures: list[OnboardError] = []
    for text, outcome in zip(repos, outcomes, strict=True):
        if isinstance(outcome, CloneResult):
            summary.clones.append(outcome)
        elif isinstance(outcome, OnboardError):
            if len(repos) > 1:  # a lone failure is reported once, as the run's error
                r.console.error(f"{text}: {outcome.message}", outcome.hint)
            failures.append(outcome)
            summary.failed.append((text, int(outcome.exit_code)))
    return failures


def _options_for_many(r: Run) -> tuple[cl.SshOptions, PrivateKeyTypes | None]:
    """ssh options for concurrent clones: never a question on the terminal (several ssh would ask at
    once), so a passphrase-protected key is decrypted here, once, for one private agent."""
    key_file, secret = r.key_path, r.secrets.passphrase
    if secret is None and r.prompter.can_ask and os.path.lexists(key_file) and keys.is_encrypted(key_file):
        secret = r.prompter.password(f"Passphrase of {key_file}:", flags=PASSPHRASE_FLAGS).encode()
    options, key = ssh_options(r, secret)
    return replace(options, batch=True), key


def _clone_planned(r: Run, planned: list[_Planned]) -> list[OnboardError | None]:
    from onboarding import clonemany

    try:
        options, key = _options_for_many(r)
    except OnboardError as exc:
        return [exc] * len(planned)
    console = r.console
    for target in sorted({p.dest.target for p in planned} & set(cl.TRADE_OFF)):
        console.para(f"Cloning to {cl.TRADE_OFF[target]}.")
    width = min(len(planned), clonemany.MAX_PARALLEL)
    console.step(f"Cloning {len(planned)} repositor{'y' if len(planned) == 1 else 'ies'}"
                 + (f", {width} at a time" if width > 1 else ""))
    jobs = [clonemany.Job(p.url, p.dest.path) for p in planned]
    watcher = _BoardWatcher(Board(console, [p.url.name for p in planned]), planned)
    with contextlib.ExitStack() as stack:
        if key is not None:  # decrypted once; every clone signs through this one agent
            from onboarding.agent import private_agent

            sock = stack.enter_context(private_agent(key, f"onboard:{options.key}"))
            options = replace(options, agent_sock=sock)
        return clonemany.clone_many(jobs, options, branch=r.settings.branch, depth=r.settings.depth,
                                    watcher=watcher)


class _BoardWatcher:
    """clonemany's events as one line per repository."""

    def __init__(self, board: Board, planned: list[_Planned]) -> None:
        self.board, self.planned = board, planned

    def started(self, index: int) -> None:
        self.board.event(index, f"cloning into {self.planned[index].dest.path}")

    def progress(self, index: int, phase: str, percent: int) -> None:
        self.board.update(index, f"{phase.lower()} {percent}%")

    def finished(self, index: int, error: OnboardError | None) -> None:
        if error is None:
            self.board.event(index, f"cloned into {self.planned[index].dest.path}")
        else:
            lines = error.message.splitlines()  # "git clone failed (exit 128):", then git's first words
            reason = lines[1] if len(lines) > 1 else error.message
            self.board.event(index, f"exit {int(error.exit_code)}: {reason}", failed=True)
