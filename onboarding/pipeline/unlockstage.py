"""Keep the key unlocked (day two): the persistent agent, the key in it, and the two blocks that
name it (the ssh config block's `IdentityAgent`/`AddKeysToAgent`, the ~/.bashrc block).

setup --keep-unlocked and `onboard unlock` both end here; `onboard lock` removes the key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboarding import fsutil, keys, shellrc, sshconfig, useragent
from onboarding import providers as prov
from onboarding.errors import UsageError
from onboarding.pipeline.context import Run
from onboarding.proc import non_dumpable
from onboarding.secrets import PASSPHRASE_FLAGS

# Who reaches an unlocked key: the summary and the docs say it in these words.
REACH = ("every process running as you (terminals, VS Code, Jupyter and its notebooks, cron jobs) "
         "and root can sign with it until the instance stops or you run `onboard lock`")


@dataclass
class Unlocked:
    socket: str
    status: str  # "unlocked" or "already unlocked"
    fingerprint: str
    agent_started: bool
    lifetime: int | None
    changed: list[str] = field(default_factory=list)  # files that now name the agent

    def as_json(self) -> dict[str, Any]:
        return {"socket": self.socket, "status": self.status, "fingerprint": self.fingerprint,
                "agent_started": self.agent_started, "lifetime": self.lifetime, "files_changed": self.changed}


def _stanza_targets(r: Run, chosen: Sequence[prov.Provider]) -> list[tuple[str, tuple[str, ...]]]:
    """The hosts onboard manages: the block's stanzas, the chosen providers, setup's repository hosts
    (named as the clone stage names them)."""
    from onboarding.clone import parse_url

    config = sshconfig.read(fsutil.read_bytes(r.target.ssh_dir / "config") or b"")
    targets = {s.name: s.hosts for s in config if s.name}
    for p in chosen:
        targets.setdefault(p.name, tuple(h.name for h in p.hosts))
    for text in r.settings.repos:
        try:
            url = parse_url(text)
        except UsageError:
            continue  # the clone stage reports it
        provider = prov.for_host(r.catalogue, url.host, url.port)
        if provider is not None:
            targets.setdefault(provider.name, tuple(h.name for h in provider.hosts))
        else:
            targets.setdefault(url.host, (url.host,))
    return list(targets.items())


def name_agent(r: Run, sock: Path, lifetime: int | None, chosen: Sequence[prov.Provider]) -> list[str]:
    """The ssh config block names the agent for every managed host; ~/.bashrc exports it."""
    config = r.target.ssh_dir / "config"
    add_keys = "yes" if lifetime is None else f"{lifetime}s"
    changed = []
    for name, hosts in _stanza_targets(r, chosen):
        if sshconfig.update(config, name, hosts, None, agent=str(sock), add_keys=add_keys):
            changed.append(str(config))
    rc = r.target.home / ".bashrc"
    if shellrc.update(rc, sock):
        changed.append(str(rc))
    return sorted(set(changed))


def _passphrase(r: Run) -> bytes | None:
    key = r.key_path
    if not keys.is_encrypted(key) or r.secrets.passphrase is not None:
        return r.secrets.passphrase
    if not r.prompter.can_ask:
        raise r.prompter.refuse(f"the passphrase of {key}", PASSPHRASE_FLAGS)
    return r.ask_existing_passphrase()


def unlock(r: Run, chosen: Sequence[prov.Provider], lifetime: int | None) -> Unlocked:
    """Start (or find) the agent, add the key unless it is there already, name the agent."""
    key = r.key_path
    sock = useragent.socket_path(r.target.home)  # a path too long: exit 2 before anything is done
    if not os.path.lexists(key):
        raise UsageError(f"no SSH key at {key}", hint="run `onboard keygen` first, or pass --key-file")
    blob = useragent.public_blob(key)
    fingerprint = keys.fingerprint_of_blob(blob) if blob else ""
    held = useragent.identities(sock) or []
    if blob is not None and blob in held and lifetime is None:
        changed = name_agent(r, sock, lifetime, chosen)
        return Unlocked(str(sock), "already unlocked", fingerprint, False, None, changed)
    passphrase = _passphrase(r)
    non_dumpable()  # the decrypted key is in memory from now on (a typed passphrase too)
    loaded, _ = keys.load_private(key, passphrase)  # a wrong passphrase: keygen's exit (5)
    started = useragent.ensure_running(r.target.home)
    useragent.add_key(sock, loaded, str(key), lifetime)
    if not fingerprint:
        fingerprint = keys.fingerprint_of_line(keys.public_line(loaded, ""))
    changed = name_agent(r, sock, lifetime, chosen)
    return Unlocked(str(sock), "unlocked", fingerprint, started.started, lifetime, changed)


def lock(r: Run) -> dict[str, Any]:
    """Remove the key from the agent; nothing to remove is not an error."""
    key = r.key_path
    sock = useragent.socket_path(r.target.home)
    blob = useragent.public_blob(key)
    if blob is None:
        raise UsageError(f"no SSH key at {key} (or its public half cannot be read)",
                         hint="pass the --key-file you unlocked")
    removed = useragent.remove_key(sock, blob)
    return {"socket": str(sock), "status": "locked" if removed else "nothing to lock",
            "fingerprint": keys.fingerprint_of_blob(blob)}


def keep_unlocked(r: Run, chosen: Sequence[prov.Provider]) -> Unlocked:
    """setup's stage: the key (opened with the run's passphrase) into the agent, until it stops."""
    done = unlock(r, chosen, r.settings.lifetime)
    r.console.ok(f"{r.key_path} is unlocked in the agent at {done.socket}")
    return done
