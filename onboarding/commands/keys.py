"""`onboard keys upload | list | rotate | prune [PROVIDER...]`: the key on the providers' accounts."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from onboarding import fsutil, keys, rotate, signing, sshconfig
from onboarding.api import KeyClient, RemoteKey, TokenError, lifecycle
from onboarding.api.github import GitHub
from onboarding.console import Console, Result
from onboarding.errors import OnboardError, PartialRemovalError, UsageError
from onboarding.instance import default_comment
from onboarding.pipeline import Run
from onboarding.pipeline.upload import clients, names_for, title, upload_all
from onboarding.providers import Provider
from onboarding.secrets import PASSPHRASE_FLAGS, Secrets
from onboarding.settings import Settings


def _public_line(r: Run, *, required: bool) -> str | None:
    pub = Path(str(r.key_path) + ".pub")
    try:
        data = fsutil.read_bytes(pub)  # never through a symlink
        text = data.decode() if data else ""
    except (OSError, UnicodeDecodeError, OnboardError):
        text = ""
    if text.strip() or not required:
        return text or None
    raise UsageError(f"no public key at {pub}", hint="run `onboard keygen` first, or pass --key-file")


def upload_cmd(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    public_line = _public_line(r, required=True) or ""
    results = upload_all(r, public_line, settings.upload)
    return Result({"uploads": [{"provider": x.provider, "status": x.status, "title": x.title, "signing": x.signing}
                               for x in results]})


def _local_lines(r: Run) -> list[str]:
    """The public lines of every local key: --key-file (or --key-type's default), every name ssh
    tries by itself, and each IdentityFile of onboard's managed ssh config block. prune never
    deletes one of these, whatever type the account's key is (issue 22). Rotate's backups
    (`*.bak-*`) are not local keys: prune finishes a rotation by removing them."""
    ssh = r.target.ssh_dir
    paths = [r.key_path, *(ssh / name for name in sshconfig.DEFAULT_KEYS)]
    with contextlib.suppress(OSError, OnboardError):
        for stanza in sshconfig.read(fsutil.read_bytes(ssh / "config") or b""):
            if stanza.key:
                home = str(r.target.home)
                paths.append(Path(home + stanza.key[1:] if stanza.key.startswith("~/") else stanza.key))
    lines = [_read_public(Path(str(p) + ".pub")) for p in dict.fromkeys(paths) if ".bak-" not in p.name]
    return [line for line in lines if line]


def _read_public(pub: Path) -> str:
    try:
        data = fsutil.read_bytes(pub)  # never through a symlink
        return data.decode().strip() if data else ""
    except (OSError, UnicodeDecodeError, OnboardError):
        return ""


def _listed(r: Run, *, signing: bool = False) -> list[lifecycle.ListedKey]:
    """`signing`: GitHub's signing keys too (a list of their own); prune and rotate leave them alone."""
    names = names_for(r, r.settings.upload)
    local = _local_lines(r)
    now = datetime.now(timezone.utc)
    out: list[lifecycle.ListedKey] = []
    for c, name in zip(clients(r, names), names, strict=True):
        out += lifecycle.classify(name, c.list_keys(), local, now)
        if signing and isinstance(c, GitHub):
            out += lifecycle.classify(name, _signing_keys(r, c, name), local, now)
    return out


def _signing_keys(r: Run, c: GitHub, name: str) -> list[RemoteKey]:
    """A token without the signing-key scope still lists the authentication keys."""
    try:
        return c.list_signing_keys()
    except TokenError as exc:
        r.console.warn(f"signing keys not listed: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        return []


def _rows(listed: Sequence[lifecycle.ListedKey]) -> list[list[str]]:
    rows = [["PROVIDER", "ID", "CREATED", "AGE", "USAGE", "", "TITLE"]]
    for k in listed:
        mark = "this key" if k.current else ("onboard" if k.ours else "")
        created = k.key.created.strftime("%Y-%m-%d") if k.key.created else "?"
        age = f"{k.age_days}d" if k.age_days is not None else "?"
        rows.append([k.provider, k.key.id, created, age, k.key.usage, mark, k.key.title])
    return rows


def list_cmd(settings: Settings, secrets: Secrets, console: Console) -> Result:
    listed = _listed(Run.start(settings, secrets, console), signing=True)
    console.table(_rows(listed))
    return Result({"keys": [k.as_json() for k in listed]})


def prune_cmd(settings: Settings, secrets: Secrets, console: Console) -> Result:
    if settings.older_than is None or settings.older_than < 0:
        raise UsageError("keys prune needs --older-than DAYS (0 or more)")
    r = Run.start(settings, secrets, console)
    doomed = lifecycle.prunable(_listed(r), settings.older_than)
    console.info(f"{len(doomed)} key(s) registered by onboard for other instances, at least "
                 f"{settings.older_than} days old" + (":" if doomed else ""))
    # --dry-run asks for the list itself: it is the result, on stdout; otherwise it is progress
    console.table(_rows(doomed) if doomed else [], to_stderr=not settings.dry_run)
    if not doomed or settings.dry_run or not _confirmed(r, len(doomed)):
        return Result({"removed": [], "would_remove": [k.as_json() for k in doomed]})
    names = list(dict.fromkeys(k.provider for k in doomed))
    removals: list[lifecycle.Removal] = []
    for c, name in zip(clients(r, names), names, strict=True):
        removals += lifecycle.remove(c, [k for k in doomed if k.provider == name])
    for x in removals:
        (console.ok if x.error is None else console.warn)(
            f"{x.listed.provider}: {'removed' if x.error is None else 'NOT removed'} '{x.listed.key.title}'"
            + (f": {x.error}" if x.error else ""))
    failed = [x for x in removals if x.error]
    data = {"removed": [x.listed.as_json() for x in removals if not x.error], "would_remove": []}
    if failed:
        raise PartialRemovalError(f"{len(failed)} of {len(removals)} keys were not removed",
                                  hint="run `onboard keys prune` again, or delete them on the provider's page",
                                  result=data)
    return Result(data)


def _confirmed(r: Run, count: int) -> bool:
    """-y (or no terminal) deletes only with --confirm-delete; a person on a terminal is asked."""
    if r.settings.confirm_delete:
        return True
    if not r.prompter.can_ask:
        r.console.info("nothing removed: pass --confirm-delete to remove them")
        return False
    return r.prompter.confirm(f"Remove these {count} key(s)?", flags="--confirm-delete", default=False)


def rotate_cmd(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    catalogue = r.catalogue
    names = names_for(r, settings.upload)
    _check_skipped(settings, catalogue, names)
    path = r.key_path
    old_line = _public_line(r, required=True) or ""
    sites = [_site(r, catalogue[n], c) for n, c in zip(names, clients(r, names), strict=True)]
    secret = secrets.passphrase
    if secret is None and not settings.no_passphrase:
        secret = r.prompter.new_passphrase(flags=PASSPHRASE_FLAGS)
    # The new key says what the old one said (its email), unless --email gives another.
    comment = settings.email or " ".join(old_line.split()[2:]) or default_comment(r.target)
    new_path = rotate.staging(path)
    console.step(f"Creating the new key beside the old one ({new_path})")
    created = rotate.create_new(keys.KeyRequest(new_path, settings.key_type, settings.bits, comment, secret,
                                                settings.kdf_rounds, False, None))
    taking = _register_and_verify(r, sites, old_line, created, secret)
    backup = rotate.swap(path, new_path)
    # Git checks valid-before/after against the commit's own date: the rotation's instant, to the second.
    when = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%SZ")
    signers = signing.after_rotation(r.target.home, path, old_line, created.public_line, settings.email, when)
    if signers:
        console.ok(f"{signers}: the old key signs commits dated before {when}, the new one after")
    console.ok(f"{path} is the new key; the old pair is kept as {backup} (and .pub)")
    console.step("Removing the old key from " + ", ".join(s.provider for s in taking))
    def data() -> dict[str, object]:
        return {"backup": str(backup), "key": str(path), "fingerprint": created.fingerprint,
                "providers": [{"provider": s.provider, "old_id": s.old.id if s.old else None,
                               "new_id": s.new.id if s.new else None, "old_removed": s.removed} for s in taking]}

    try:
        rotate.remove_old(taking)  # raises PartialRemovalError (exit 7) naming each step left
    except PartialRemovalError as exc:
        exc.result = data()
        raise
    console.ok("the old key is gone from every provider that had it")
    try:
        moved = rotate.move_signing(taking, old_line, created.public_line, title(r, rotated=True))
    except PartialRemovalError as exc:
        exc.result = data()
        raise
    if moved:
        console.ok("the new key also replaces the old one as a signing key on " + ", ".join(moved))
    return Result(data())


def _site(r: Run, p: Provider, client: KeyClient) -> rotate.Site:
    """Where rotate proves the new key: the canonical host, as each user of the team's repository
    URLs there (else the provider's), through the fallback when the managed block maps it."""
    from onboarding import sshlogin

    users = tuple(dict.fromkeys(user for user, _ in sshlogin.logins(p, r.settings.repos)))
    return rotate.Site(p.name, client, p.canonical.name, p.canonical.port, p.user, p.add_key_url, logins=users,
                       mapped=sshlogin.mapped(r.target.ssh_dir / "config", p.name))


def _check_skipped(settings: Settings, catalogue: dict[str, Provider], names: Sequence[str]) -> None:
    """The old key may be on providers rotate cannot reach: the person must say they know."""
    in_use = list(settings.providers) or list(catalogue)
    unreached = [n for n in in_use if n not in names and n not in settings.skip]
    if unreached:
        raise UsageError(f"the old key may also be registered on {', '.join(unreached)} (no API or no token): "
                         "rotate would leave it there",
                         hint=f"give their tokens, or remove it there by hand and pass --skip {','.join(unreached)}"
                              " (or --providers to list only the providers you use)")


def _register_and_verify(r: Run, sites: list[rotate.Site], old_line: str, created: keys.KeyResult,
                         secret: bytes | None) -> list[rotate.Site]:
    """Steps 2-3; any failure (or ^C) takes the new key back off and leaves the old one as it was."""
    try:
        console = r.console
        console.step("Registering the new key where the old one is")
        taking = rotate.register(sites, old_line, created.public_line, title(r, rotated=True))
        if not taking:
            raise UsageError("the old key is registered on none of " + ", ".join(s.provider for s in sites),
                             hint="nothing to rotate there; `onboard keys list` shows what each account has")
        console.step("Logging in with the new key: " + ", ".join(s.provider for s in taking))
        key, _ = keys.load_private(created.path, secret)
        rotate.verify(taking, created.path, key, "onboard rotate", r.known_hosts, r.settings.timeout)
        return taking
    except BaseException:
        for line in rotate.rollback(sites):
            r.console.warn(line)
        for p in (created.path, created.public_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        raise
