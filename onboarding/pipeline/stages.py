"""The stages themselves: each turns what the run knows into explicit step calls and reports."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from onboarding import fsutil, hostkeys, keys, known_hosts, proc
from onboarding import providers as prov
from onboarding.console import Console
from onboarding.instance import default_comment
from onboarding.pipeline.context import Run, Summary


# -- key ------------------------------------------------------------------------------------
def ensure_key(r: Run, secret: bytes | None) -> keys.KeyResult:
    """Create or reuse the key pair."""
    s, console, path = r.settings, r.console, r.key_path
    request = keys.KeyRequest(path=path, key_type=s.key_type, bits=s.bits,
                              comment=s.email or default_comment(r.target), passphrase=secret,
                              rounds=s.kdf_rounds, force=s.force, owner=None)
    if not r.key_exists:
        size = f"{s.bits}-bit " if s.key_type == "rsa" else ""
        console.step(f"Generating {'an' if s.key_type == 'ed25519' else 'a'} {size}{s.key_type} key at {path}")
    result = keys.ensure_key(request)
    for note in result.notes:
        console.info(note)
    if result.backup:
        console.info(f"the old pair was moved to {result.backup} (and .pub)")
    console.ok(f"key {result.status}: {result.path} ({result.fingerprint})")
    if not result.encrypted:
        console.warn(f"{result.path} has no passphrase: anyone who can read it can use it")
    return result


def key_json(result: keys.KeyResult) -> dict[str, Any]:
    data = asdict(result)
    data.update(path=str(result.path), public_path=str(result.public_path),
                public_key=result.public_line.strip(), backup=str(result.backup) if result.backup else None,
                notes=list(result.notes))
    del data["public_line"]
    return data


def show_where_to_paste(console: Console, chosen: list[prov.Provider]) -> None:
    for p in chosen:
        if p.add_key_url:
            console.out(f"  {p.title + ':':14} {p.add_key_url}")
            if p.paste and console.verbose:
                console.out(f"  {'':14} {p.paste}")


def show_public_key(console: Console, result: keys.KeyResult, chosen: list[prov.Provider]) -> None:
    console.out("Your public key (copy the whole line):")
    console.out()
    console.out(result.public_line.rstrip("\n"))
    console.out()
    console.out(f"Fingerprint: {result.fingerprint}")
    if chosen:
        console.out("Add it here:")
        show_where_to_paste(console, chosen)


# -- hosts ----------------------------------------------------------------------------------
def ensure_trusted(r: Run, chosen: list[prov.Provider]) -> known_hosts.MergeResult:
    """Verify `chosen` (or take the pins as they are with --offline), then merge known_hosts."""
    s, console = r.settings, r.console
    names = ", ".join(p.name for p in chosen)
    if s.offline:
        console.step(f"Writing pinned host keys for {names} (offline: not probing)")
    else:
        console.step(f"Checking the live host keys of {names} against the pins")
    pins, verdicts, unreachable = hostkeys.verify(chosen, offline=s.offline, timeout=s.timeout)
    for v in verdicts:
        console.ok(f"{v.host.pattern}: {len(v.accepted)} key(s) match the pins of {v.provider.name}")
    for err in unreachable:
        console.warn(f"{err.message}; its provider's main host verified, so its pinned keys are written for it too")
    revoked = {fp for p in chosen for fp in p.revoked}
    path = r.known_hosts
    asked: list[bool] = []

    def hashed() -> bool:  # only when a line is to be added: it costs an `ssh -G`
        asked.append(s.hash if s.hash is not None else proc.hashes_known_hosts())
        return asked[0]

    if not path.parent.exists():
        fsutil.ensure_private_dir(path.parent, None)
    result = known_hosts.update(path, pins, revoked, hashed=hashed, owner=None)
    for line in result.removed:
        console.info(f"removed from {path}: {line} (revoked or not the provider's key)")
    for line in result.neutralised:
        console.info(f"narrowed in {path}: {line}")
    for line in result.cert_authorities:
        console.warn(f"{path}: kept @cert-authority {line}: it can vouch for a pinned host's certificates")
    if result.added:
        console.ok(f"{path}: added {len(result.added)} pinned key line(s)" + (" (hashed)" if any(asked) else ""))
    elif not result.removed and not result.neutralised:
        console.ok(f"{path} already trusts exactly the pinned keys")
    return result


# -- summary --------------------------------------------------------------------------------
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


from onboarding.pipeline.clonestage import clone_all  # noqa: E402 - re-exported: one import place for stages

__all__ = ["clone_all", "ensure_key", "ensure_trusted", "key_json", "print_summary", "show_public_key"]
