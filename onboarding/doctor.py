"""Read-only health checks. Each says pass, warn or fail, what it saw, and the fix."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from onboarding import known_hosts, proc, sshconfig
from onboarding.instance import Target, detect_compute_instance
from onboarding.providers import Host, Provider


@dataclass(frozen=True)
class Check:
    name: str
    status: Literal["pass", "warn", "fail"]
    detail: str
    fix: str = ""


def check_git() -> Check:
    if not shutil.which("git"):
        return Check("git", "fail", "git is not installed", "apt-get install git")
    return Check("git", "pass", proc.run(["git", "--version"], timeout=30).out.strip())


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def check_key(key: Path, tgt: Target) -> list[Check]:
    if not os.path.lexists(key):
        return [Check("key", "fail", f"no key at {key}", "onboard keygen")]
    out = []
    ssh_dir_mode = _mode(key.parent)
    if ssh_dir_mode & 0o022:
        out.append(Check("ssh-dir-mode", "fail", f"{key.parent} is {ssh_dir_mode:04o}, writable by others",
                         f"chmod 700 {key.parent}"))
    key_mode = _mode(key)
    if os.path.islink(key) or key_mode & 0o077:
        out.append(Check("key-mode", "fail", f"{key} is {key_mode:04o}: ssh refuses keys others can read",
                         f"chmod 600 {key}"))
    else:
        out.append(Check("key-mode", "pass", f"{key} is {key_mode:04o}"))
    if os.lstat(key).st_uid != tgt.uid:
        out.append(Check("key-owner", "fail", f"{key} is not owned by {tgt.name}", f"chown {tgt.name} {key}"))
    pub = Path(str(key) + ".pub")
    if not pub.exists():
        out.append(Check("public-key", "fail", f"{pub} is missing", f"ssh-keygen -y -f {key} > {pub}"))
    from onboarding.keys import is_encrypted

    if is_encrypted(key):
        out.append(Check("passphrase", "pass", f"{key} is protected by a passphrase"))
    else:
        out.append(Check("passphrase", "warn", f"{key} has no passphrase: whoever reads it can use it",
                         f"ssh-keygen -p -f {key}"))
    return out


def check_known_hosts(path: Path, chosen: Sequence[Provider]) -> list[Check]:
    lines = known_hosts.read_lines(path)
    out = []
    all_revoked = {fp for p in chosen for fp in p.revoked}
    bad = [ln for ln in lines if ln.marker is None and ln.fingerprint in all_revoked]
    if bad:
        out.append(Check("known-hosts-revoked", "fail",
                         f"{path} still trusts retired keys: {', '.join(sorted({str(b.fingerprint) for b in bad}))}",
                         "onboard hosts verify --offline"))
    for p in chosen:
        missing = [k for k in p.keys if not known_hosts.trusts(lines, p.canonical.pattern, k.text)]
        if not p.keys:
            trusted = known_hosts.keys_for(lines, p.canonical.pattern)
            ok = any(ln.fingerprint in p.fingerprints for ln in trusted)
            out.append(Check(f"known-hosts:{p.name}", "pass" if ok else "fail",
                             f"{p.canonical.pattern} {'is' if ok else 'is not'} trusted with a pinned key",
                             "" if ok else f"onboard hosts verify {p.name}"))
        elif missing:
            out.append(Check(f"known-hosts:{p.name}", "fail",
                             f"{path} lacks {len(missing)} of {p.name}'s current keys",
                             f"onboard hosts verify {p.name}"))
        else:
            out.append(Check(f"known-hosts:{p.name}", "pass", f"{p.canonical.pattern}: all current keys trusted"))
    return out


def check_ssh_config(path: Path) -> list[Check]:
    if not path.exists():
        return [Check("ssh-config", "pass", f"{path} does not exist (ssh defaults apply)")]
    out = []
    mode = _mode(path)
    if mode & 0o022:
        out.append(Check("ssh-config-mode", "fail", f"{path} is {mode:04o}: ssh refuses a config others can write",
                         f"chmod 600 {path}"))
    data = path.read_bytes()
    if (sshconfig.BEGIN in data) != (sshconfig.END in data):
        out.append(Check("ssh-config-block", "fail", f"{path} has half of onboard's managed block",
                         "remove the lone marker line, then rerun onboard clone"))
    done = proc.run(["ssh", "-G", "-F", str(path), "github.com"], timeout=30) if shutil.which("ssh") else None
    if done is not None and done.returncode != 0:
        out.append(Check("ssh-config-syntax", "fail", f"ssh cannot read {path}: {done.err.strip()[:200]}",
                         f"fix the line ssh names in {path}"))
    if not out:
        out.append(Check("ssh-config", "pass", f"{path} is readable by ssh and private enough"))
    return out


def check_cloudfiles(tgt: Target) -> list[Check]:
    ci = detect_compute_instance(tgt.home)
    if ci is None:
        return []
    share = tgt.home / "cloudfiles" / "code"
    if share.is_dir():
        return [Check("cloudfiles", "pass", f"compute instance {ci.name}: {share} is mounted")]
    return [Check("cloudfiles", "fail", f"compute instance {ci.name}: {share} is not mounted",
                  "restart the compute instance, or check the workspace's file share")]


def _agent_named(tgt: Target) -> bool:
    data = (tgt.ssh_dir / "config").read_bytes() if (tgt.ssh_dir / "config").is_file() else b""
    return any(s.agent for s in sshconfig.read(data))


def check_signing(tgt: Target) -> list[Check]:
    """Commit signing, when git is set up for it: the key, allowed_signers, a sign/verify round trip."""
    from onboarding import signing

    h = signing.health(tgt.home)
    if not h.configured:
        return []
    if h.problems:
        return [Check("signing", "fail", what, fix) for what, fix in h.problems]
    if h.locked:
        return [Check("signing", "warn", f"{h.key} could not sign without a terminal: the key is locked",
                      "onboard unlock (or commit from a terminal, where ssh-keygen asks the passphrase)")]
    return [Check("signing", "pass", f"commits are signed with {h.key} and verify locally")]


def check_agent(key: Path, tgt: Target) -> list[Check]:
    """The persistent agent (day two), when the user chose it (the managed block names it, or its
    folder exists): folder and socket private and theirs, the agent answering, the key in it."""
    from onboarding import useragent
    from onboarding.agent import persistent_socket

    sock = persistent_socket(tgt.home)
    if not _agent_named(tgt) and not os.path.lexists(sock.parent):
        return []
    for path, kind in ((sock.parent, stat.S_ISDIR), (sock, stat.S_ISSOCK)):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not kind(st.st_mode) or st.st_uid != tgt.uid or (path == sock.parent and st.st_mode & 0o077):
            return [Check("agent", "fail", f"{path} is {stat.S_IMODE(st.st_mode):04o}, uid {st.st_uid}: "
                          f"it must be {tgt.name}'s own {'0700 folder' if path == sock.parent else 'socket'}",
                          f"rm -rf {sock.parent}; onboard unlock")]
    held = useragent.identities(sock)
    if held is None:
        return [Check("agent", "fail", f"no agent answers at {sock} (stopped, or the instance restarted): "
                      "git without a terminal cannot use the key", "onboard unlock")]
    blob = useragent.public_blob(key)
    if blob is None or blob not in held:
        return [Check("agent", "warn", f"the agent at {sock} answers but does not hold {key} (locked, or its "
                      "lifetime ended): git without a terminal cannot use it", "onboard unlock")]
    from onboarding.keys import fingerprint_of_blob

    return [Check("agent", "pass", f"the agent at {sock} holds {key} ({fingerprint_of_blob(blob)})")]


def check_auth(p: Provider, key: Path, kh: Path, timeout: float, agent_sock: Path | None = None, *,
               repos: Sequence[str] = (), config: Path | None = None) -> list[Check]:
    """`ssh -v -T` as each user of the team's repository URLs (else the provider's): a pass is ssh
    saying it authenticated, whatever the server prints after (a greeting, a plain git-shell's
    refusal of a shell, nothing) and whatever it exits with; the endpoint that answered is shown."""
    from onboarding import sshlogin
    from onboarding.clone import SshOptions, ssh_argv

    base = ssh_argv(SshOptions(key, kh, batch=True, agent_sock=agent_sock, connect_timeout=timeout))
    is_mapped = config is not None and sshlogin.mapped(config, p.name)
    out = []
    for user, h in sshlogin.logins(p, repos):
        login, code = sshlogin.log_in(base, user, h, is_mapped=is_mapped, timeout=timeout,
                                      extra={"SSH_AUTH_SOCK": str(agent_sock)} if agent_sock else None)
        who = f"{user}@{h.pattern}"
        if login.timed_out:
            out.append(Check(f"auth:{p.name}", "fail", f"ssh -T {who} timed out", "check the network"))
        elif login.ok:
            via = f" via {login.endpoint}" if login.endpoint and is_mapped else ""
            said = f" ({login.said[0]})" if login.said else ""
            out.append(Check(f"auth:{p.name}", "pass", f"{who} accepts the key{via}{said}"))
        else:
            denied = any("Permission denied" in line for line in login.said)
            fix = f"add {key}.pub at {p.add_key_url}" if denied and p.add_key_url else "see ssh's message"
            out.append(Check(f"auth:{p.name}", "fail", f"{who}: {login.last(code)}", fix))
    return out


def check_routes(chosen: Sequence[Provider], config: Path) -> list[Check]:
    """Per provider, where ssh really goes for its canonical host (`ssh -G`), and whether that is
    the managed block's fallback mapping (SSH over 443) or an earlier line of the user's own."""
    from onboarding import sshlogin

    out = []
    for p in chosen:
        h = p.canonical
        got = sshlogin.effective(config, h)
        if got is None:
            continue
        where = Host(got[0].lower(), got[1])
        is_mapped = sshlogin.mapped(config, p.name)
        if is_mapped and p.fallback is not None and where != p.fallback:
            out.append(Check(f"route:{p.name}", "warn", f"the managed block sends {h.name} to {p.fallback.pattern}, "
                             f"but ssh goes to {where.pattern}: an earlier line of {config} wins",
                             f"remove that HostName/Port for {h.name}, or `onboard hosts verify {p.name} "
                             "--ssh-over-443 never`"))
        elif is_mapped:
            out.append(Check(f"route:{p.name}", "pass", f"{h.name} goes to {where.pattern} "
                             "(SSH over 443: port 22 was blocked; the managed block maps it)"))
        elif where != h:
            out.append(Check(f"route:{p.name}", "pass", f"{h.name} goes to {where.pattern} (your own ssh config)"))
        else:
            out.append(Check(f"route:{p.name}", "pass", f"{h.name} goes to {where.pattern} (direct)"))
    return out


def auth_checks(chosen: Sequence[Provider], key: Path, kh: Path, timeout: float, secret: bytes | None,
                *, passphrase_hint: str = "give its passphrase",  # noqa: S107 - advice, not a secret
                repos: Sequence[str] = (), config: Path | None = None) -> list[Check]:
    """`ssh -T` to each provider. A key with a passphrase is opened once with `secret` and signs
    through a private agent: BatchMode ssh with no agent would read as "Permission denied"."""
    from onboarding.keys import is_encrypted

    if not chosen:
        return []
    if not os.path.lexists(key) or not is_encrypted(key):
        return [c for p in chosen for c in check_auth(p, key, kh, timeout, repos=repos, config=config)]
    if secret is None:
        return [Check("auth", "fail", f"{key} has a passphrase and none was given: ssh could not use it",
                      passphrase_hint)]
    from onboarding.agent import private_agent
    from onboarding.errors import ConflictError
    from onboarding.keys import load_private

    try:
        loaded, _ = load_private(key, secret)
    except ConflictError as exc:
        return [Check("auth", "fail", exc.message, passphrase_hint)]
    # A fresh agent of our own: never the session's (or, under --user, root's) agent.
    with private_agent(loaded, f"onboard:{key}") as sock:
        return [c for p in chosen for c in check_auth(p, key, kh, timeout, agent_sock=sock, repos=repos,
                                                      config=config)]


def present_providers(catalogue: Mapping[str, Provider], kh: Path) -> list[Provider]:
    """The providers whose canonical host known_hosts already trusts (the ones this person uses)."""
    lines = known_hosts.read_lines(kh)
    return [p for p in catalogue.values() if known_hosts.keys_for(lines, p.canonical.pattern)]
