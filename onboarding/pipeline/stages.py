"""The stages themselves: each turns what the run knows into explicit step calls and reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onboarding import fsutil, hostkeys, identity, keys, known_hosts, proc, repourl, sshconfig
from onboarding import providers as prov
from onboarding.console import Console
from onboarding.errors import OnboardError
from onboarding.instance import default_comment
from onboarding.pipeline.context import Run, Summary, key_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


# -- key ------------------------------------------------------------------------------------
def ensure_key(r: Run, secret: bytes | None, pregenerated: PrivateKeyTypes | None = None) -> keys.KeyResult:
    """Create or reuse the key pair (`pregenerated`: a new key made ahead, only encrypted and written here)."""
    s, console, path = r.settings, r.console, r.key_path
    request = keys.KeyRequest(path=path, key_type=s.key_type, bits=s.bits,
                              comment=s.email or default_comment(r.target), passphrase=secret,
                              rounds=s.kdf_rounds, force=s.force, owner=None, pregenerated=pregenerated)
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
    pins, verdicts, unreachable, routes = hostkeys.verify(
        chosen, offline=s.offline, timeout=s.timeout, mode=s.ssh_over_443,
        origin=s.origins.get("ssh_over_443", "--ssh-over-443"))
    for route in routes:
        if route.via is not None and route.reason is None:
            console.info(f"{route.provider.name}: --ssh-over-443 always: ssh goes to {route.via.pattern}")
        elif route.via is not None:
            console.warn(f"{route.reason}; port 22 looks blocked here: {route.provider.name} is reached through "
                         f"its fallback {route.via.pattern} (same host keys)")
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
    write_routes(r, routes)
    return result


def write_routes(r: Run, routes: list[hostkeys.Route]) -> None:
    """The managed block's HostName/Port per provider: set for a fallback in use, removed otherwise
    (a removal where there is no block leaves the file byte-identical). After known_hosts: ssh
    must trust the fallback's name before anything sends it there."""
    config = r.target.ssh_dir / "config"
    for route in routes:
        p, via = route.provider, route.via
        hosts = [h.name for h in p.hosts]
        changed = sshconfig.update(config, p.name, hosts, None, hostname=via.name if via else None,
                                   port=via.port if via else None)
        if changed and via is not None:
            r.console.ok(f"{config}: {', '.join(hosts)} go to {via.pattern} (managed block); "
                         "clone URLs and remotes keep the canonical name")
        elif changed:
            r.console.info(f"{config}: the fallback mapping of {p.name} was removed: ssh goes to port 22 again")


# -- git identity ---------------------------------------------------------------------------
def ensure_identity(r: Run, wanted: identity.Identity) -> identity.IdentityResult:
    """Set user.name / user.email where missing; a different value already set is kept and reported."""
    console = r.console
    result = identity.ensure(wanted, overwrite=r.settings.git_identity_overwrite)
    for field in result.written:
        console.ok(f"git config --global {field} set to {result.current.get(field)!r}")
    for field, kept, given in result.differs:
        console.warn(f"git {field} is {kept!r}; kept (not {given!r}): pass --git-identity-overwrite to replace it")
    for field in identity.FIELDS:
        if field not in result.written and result.current.get(field) and not any(d[0] == field
                                                                                 for d in result.differs):
            console.ok(f"git {field} is {result.current.get(field)!r} (kept)")
    return result


# -- clone ----------------------------------------------------------------------------------
def fill_users(r: Run) -> Run:
    """`github.com:org/app` has no user: ssh would log in as the local login. Fill in the pinned
    provider's user (git); for a host that is not pinned, say so."""
    from onboarding import clone as cl

    repos = []
    for text in r.settings.repos:
        try:
            url = cl.parse_url(text)
        except OnboardError:
            repos.append(text)  # the clone stage reports it
            continue
        provider = prov.for_host(r.catalogue, url.host, url.port)
        if url.user is None and provider is not None:
            text = cl.with_user(url, provider.user).text
            r.console.info(f"{url.text} names no user: cloning as {text}")
        elif url.user is None:
            r.console.warn(f"{url.text} names no user: ssh logs in as {r.target.name}; "
                           "most Git hosts expect git@ (e.g. git@HOST:ORG/REPO.git)")
        repos.append(text)
    return r.with_settings(repos=tuple(repos)) if tuple(repos) != r.settings.repos else r


# -- summary --------------------------------------------------------------------------------
def print_summary(console: Console, summary: Summary, *, next_steps: bool = True, left: bool = True) -> None:
    """What the run did; then, unless `left` is off, what is left to do."""
    console.info("")
    console.step("Summary")
    if summary.key:
        console.info(f"  key          {summary.key.path} ({summary.key.status}, {summary.key.fingerprint})")
    if summary.known_hosts:
        how = "; from the pins, not checked live" if summary.offline_hosts else ""
        console.info(f"  known_hosts  {summary.known_hosts} (+{summary.known_hosts_added} "
                     f"-{summary.known_hosts_removed} lines; pinned: {', '.join(summary.providers)}{how})")
    if summary.identity:
        who = summary.identity.current
        console.info(f"  git identity {who.name or '(no user.name)'} <{who.email or 'no user.email'}>")
    if summary.unlocked:
        from onboarding.pipeline.unlockstage import REACH

        console.info(f"  agent        {summary.unlocked.socket} (key unlocked)")
        console.para(f"  Who reaches the key now: {REACH}.", hang="  ")
    for c in summary.clones:
        console.info(f"  clone        {c.path} ({c.status}, {c.target})")
    for url, code in summary.failed:
        console.info(f"  clone        {repourl.mask(url)} (failed, exit {code}: see below)")
    items = what_is_left(summary, add_key=next_steps) if left else []
    if items:
        console.info("What is left:")
        for n, item in enumerate(items, 1):
            console.para(f"  {n}. {item}", hang="     ")


def what_is_left(summary: Summary, *, add_key: bool) -> list[str]:
    """The user's next steps, each a command or a place: nothing here is done for them."""
    left = []
    if add_key and summary.key:
        left.append(f"add the public key {summary.key.public_path} at your provider (the page shown above), "
                    "if you have not yet")
    if summary.offline_hosts:
        left.append("check the host keys against the live servers once the network is back: "
                    "`onboard hosts verify " + " ".join(summary.providers) + "`")
    who = summary.identity.current if summary.identity else None
    if who is not None and not (who.name and who.email):
        left.append("tell git who you are: `git config --global user.name 'Your Name'` and "
                    "`git config --global user.email you@example.com` (or rerun with --git-name and --email)")
    if add_key or summary.offline_hosts:
        left.append("test the key: `onboard doctor --auth-test`")
    if summary.failed:  # the repositories are known: a rerun clones them, not `onboard clone`
        left.append("fix what the error below says (often: the key is not added yet), then run the same command "
                    "again: it clones what failed and keeps the rest")
    elif not summary.clones:
        left.append("clone a repository: `onboard clone git@HOST:ORG/REPO.git`")
    left.append("in a clone, `onboard git-info` shows what Azure ML will record for your jobs")
    return left


__all__ = ["ensure_identity", "ensure_key", "ensure_trusted", "fill_users", "key_json", "print_summary",
           "show_public_key", "what_is_left"]
