"""keys rotate: a new key replaces the old one on every provider, proven before the old one goes.

Order, so that at every instant at least one working key is registered and on disk:
1. the new pair is written beside the old one (<key>.rotate-new); the old pair is untouched;
2. on each provider holding the old key, the new key is added;
3. each is verified by logging in with the new key (ssh -T through a private agent);
   a failure in 1-3 removes what this run added and leaves the old key working everywhere;
4. the old pair is kept as a backup and the new pair takes its place (two renames);
5. only then the old key is removed from each provider; a failure here is reported per
   provider with the exact step left (exit 7, PartialRemovalError).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from onboarding import keys
from onboarding.api import KeyClient, RemoteKey
from onboarding.errors import GitError, OnboardError, PartialRemovalError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

@dataclass
class Site:
    """One provider taking part: its API client, where to log in, and how far it got."""

    provider: str
    client: KeyClient
    host: str
    port: int
    user: str
    add_key_url: str | None = None
    logins: tuple[str, ...] = ()  # the users of the team's repository URLs here (each proven); () -> user
    mapped: bool = False  # the managed block sends this provider to its fallback: no `-p` (SSH over 443)
    old: RemoteKey | None = None
    new: RemoteKey | None = None
    added: bool = False  # by this run (rollback removes only these)
    removed: bool = False
    error: str | None = None


def staging(path: Path) -> Path:
    return path.with_name(path.name + ".rotate-new")


def create_new(req: keys.KeyRequest) -> keys.KeyResult:
    """The new pair at the staging path; a pair a killed earlier rotate left there is ours to replace."""
    for p in (req.path, Path(str(req.path) + ".pub")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
    return keys.ensure_key(req)


def register(sites: Sequence[Site], old_line: str, new_line: str, title: str) -> list[Site]:
    """Add the new key where the old one is; return the sites that take part (the others lack the old key)."""
    taking_part = []
    for s in sites:
        listed = s.client.list_keys()
        s.old = next((k for k in listed if k.same(old_line)), None)
        if s.old is None:
            continue
        s.new = next((k for k in listed if k.same(new_line)), None)
        if s.new is None:
            s.new = s.client.add_key(new_line, title)
            s.added = True
        taking_part.append(s)
    return taking_part


def verify(sites: Sequence[Site], key_path: Path, key: PrivateKeyTypes, comment: str, known_hosts: Path,
           timeout: float) -> None:
    """Log in to each provider with the new key, through a private agent (a passphrase never asks)."""
    from onboarding.agent import private_agent

    try:
        with private_agent(key, comment) as sock:
            _log_in_each(sites, key_path, known_hosts, sock, timeout)
    except OSError as exc:  # the agent's socket refused or vanished: expected, and the old key stays
        raise OnboardError(f"the private ssh-agent did not take the new key ({exc.strerror or exc})",
                           hint="nothing was removed: the old key still works everywhere; run rotate again") from None


def _log_in_each(sites: Sequence[Site], key_path: Path, known_hosts: Path, sock: Path, timeout: float) -> None:
    """A proof is ssh saying it authenticated (sshlogin), whatever the server prints after."""
    from onboarding import sshlogin
    from onboarding.clone import SshOptions, ssh_argv
    from onboarding.providers import Host

    base = ssh_argv(SshOptions(key_path, known_hosts, batch=True, agent_sock=sock, connect_timeout=timeout))
    for s in sites:
        for user in s.logins or (s.user,):
            login, code = sshlogin.log_in(base, user, Host(s.host, s.port), is_mapped=s.mapped, timeout=timeout,
                                          extra={"SSH_AUTH_SOCK": str(sock)})
            if not login.ok:
                raise GitError(f"{s.provider}: the new key was registered but logging in with it failed "
                               f"(as {user}: {'timed out' if login.timed_out else login.last(code)})",
                               hint="nothing was removed: the old key still works everywhere")


def rollback(sites: Sequence[Site]) -> list[str]:
    """Remove the new key where this run added it; return what could not be undone."""
    left = []
    for s in sites:
        if s.added and s.new is not None:
            try:
                s.client.delete_key(s.new)
            except OnboardError as exc:
                left.append(f"{s.provider}: remove the unused new key '{s.new.title}' ({exc.message})")
    return left


def swap(path: Path, new_path: Path) -> Path:
    """Old pair -> backup (links), new pair -> the key's path; return the backup's private path."""
    pub, new_pub = Path(str(path) + ".pub"), Path(str(new_path) + ".pub")
    backup = keys.backup_pair(path, pub)
    # Back to back: a kill between them leaves the new private key with the old .pub; both keys
    # are registered at this point, and the private key holds its own public half.
    os.replace(new_path, path)
    os.replace(new_pub, pub)
    return backup


def remove_old(sites: Sequence[Site]) -> None:
    """Delete the old key on each site; report every one left (exit 7), the rest still go."""
    for s in sites:
        if s.old is None:
            continue
        try:
            s.client.delete_key(s.old)
            s.removed = True
        except OnboardError as exc:
            s.error = exc.message
    left = [s for s in sites if s.old is not None and not s.removed]
    if left:
        # What the provider's own page shows: the title and the fingerprint (not the API's id), and
        # that page is the list of keys, not the form for adding one.
        steps = "; ".join(f"{s.provider}: delete the old key '{s.old.title}' ({_fingerprint(s.old.key)})"
                          + (f" at {keys_page(s.add_key_url)}" if s.add_key_url else "") + f" [{s.error}]"
                          for s in left if s.old is not None)
        raise PartialRemovalError(f"the new key works everywhere, but the old key is still registered: {steps}",
                                  hint="run `onboard keys prune` or delete it on the provider's page")


def keys_page(add_key_url: str) -> str:
    """The provider's list of keys, from where it adds one (GitHub's form is settings/ssh/new, its list
    settings/keys; the others add on their list page)."""
    if add_key_url.endswith("/settings/ssh/new"):
        return add_key_url.removesuffix("/ssh/new") + "/keys"
    return add_key_url.removesuffix("/new")


def _fingerprint(public: str) -> str:
    try:
        return keys.fingerprint_of_line(public)
    except ValueError:
        return "fingerprint unknown"


def move_signing(sites: Sequence[Site], old_line: str, new_line: str, title: str) -> list[str]:
    """Where the old key was also a signing key in a separate list (GitHub), the new key takes its
    place there too: added, then the old entry removed (after the login proof, as for logins).
    Returns the providers done; a step that failed is a PartialRemovalError (exit 7) naming it."""
    from onboarding.api import github

    moved, left = [], []
    for s in sites:
        if not isinstance(s.client, github.GitHub):
            continue  # GitLab's one key carries its usage type: the new key was added as auth_and_signing
        try:
            listed = s.client.list_signing_keys()
            old = [k for k in listed if k.same(old_line)]
            if not old:
                continue
            if not any(k.same(new_line) for k in listed):
                s.client.add_signing_key(new_line, title)
            for k in old:
                s.client.delete_key(k)
            moved.append(s.provider)
        except OnboardError as exc:
            left.append(f"{s.provider}: move the signing key by hand ({exc.message})")
    if left:
        raise PartialRemovalError("the new key works, but its signing registration is not complete: " + "; ".join(left),
                                  hint="add the new key as a Signing Key and delete the old one on the provider's page")
    return moved
