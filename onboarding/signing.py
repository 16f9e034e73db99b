"""Commit signing with the SSH key: git's global config, the allowed signers file, and the
program git signs with (docs/signing.md).

- `user.signingkey` is the private key's PATH, not a `key::` literal: ssh-keygen then signs
  through an agent that holds the key, and without one it can still ask for the passphrase on
  a terminal; and `keys rotate` puts the new key at the same path, so the setting stays true.
- `commit.gpgsign true`, not `tag.gpgSign` (that turns a plain `git tag` into a signed one).
- `ssh-keygen -Y sign` reads only SSH_AUTH_SOCK, never ssh's IdentityAgent, so a process without
  an agent of its own (VS Code's Git panel, Jupyter, cron) would fail: `gpg.ssh.program` is a
  small wrapper that uses the persistent agent (day two) when the caller has no live agent, and
  says `onboard unlock` when the key is locked.
- All or nothing: an existing signing value that differs is kept and reported (nothing is
  written) unless `overwrite`; `commit.gpgsign` is written last and a failure restores what was
  there, so git never ends with signing on and the format half set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onboarding import fsutil, proc
from onboarding.errors import GitError, UsageError

WRAPPER = """#!/bin/sh
# onboard: git's gpg.ssh.program (docs/signing.md). ssh-keygen -Y sign reads only SSH_AUTH_SOCK:
# without a live agent of the caller's, sign through the persistent agent (onboard unlock).
persistent='{socket}'
if [ -n "${{SSH_AUTH_SOCK:-}}" ]; then
  ssh-add -l >/dev/null 2>&1
  [ $? -ne 2 ] || SSH_AUTH_SOCK=
fi
if [ -z "${{SSH_AUTH_SOCK:-}}" ] && [ -S "$persistent" ]; then
  SSH_AUTH_SOCK=$persistent
  export SSH_AUTH_SOCK
fi
ssh-keygen "$@"
rc=$?
if [ "$rc" -ne 0 ] && [ "${{1:-}}" = "-Y" ] && [ "${{2:-}}" = "sign" ]; then
  echo "onboard: the signing key is locked: run 'onboard unlock' (or commit from a terminal with an agent)" >&2
fi
exit "$rc"
"""


@dataclass(frozen=True)
class SigningResult:
    written: tuple[str, ...] = ()  # git config keys set by this run
    kept: tuple[tuple[str, str, str], ...] = ()  # (key, value kept, value onboard would set)
    allowed_signers: str = ""
    signer_added: bool = False
    program: str = ""

    def as_json(self) -> dict[str, object]:
        return {"written": list(self.written), "kept": [{"key": k, "kept": v, "wanted": w} for k, v, w in self.kept],
                "allowed_signers": self.allowed_signers, "signer_added": self.signer_added, "program": self.program}


def _get(key: str) -> str | None:
    done = proc.run(["git", "config", "--global", "--get", key], timeout=30)
    return (done.out.strip() or None) if done.returncode == 0 else None


def _set(key: str, value: str | None) -> None:
    """Set `key`, or with None remove it (git's exit 5: it was not there, which is fine)."""
    if value is None:
        done = proc.run(["git", "config", "--global", "--unset", key], timeout=30)
        ok = done.returncode in (0, 5)
    else:
        done = proc.run(["git", "config", "--global", key, value], timeout=30)
        ok = done.returncode == 0
    if not ok:
        raise GitError(f"git config --global {key} failed: {done.err.strip()}")


def allowed_signers_path(home: Path) -> Path:
    """The file git checks signatures against: the one already configured, else the default."""
    configured = _get("gpg.ssh.allowedSignersFile")
    if configured:  # an existing file elsewhere is appended to, not replaced
        return home / configured[2:] if configured.startswith("~/") else Path(configured)
    return home / ".config" / "git" / "allowed_signers"


def program_path(home: Path) -> Path:
    return home / ".config" / "onboard" / "ssh-sign"


def signer_line(email: str, public_line: str, *, valid_after: str | None = None,
                valid_before: str | None = None) -> str:
    """One allowed_signers line: principal, options (namespaces="git", validity), key."""
    options = ['namespaces="git"']
    if valid_after:
        options.append(f'valid-after="{valid_after}"')
    if valid_before:
        options.append(f'valid-before="{valid_before}"')
    return f"{email} {','.join(options)} {' '.join(public_line.split()[:2])}"


def email_for(given: str | None) -> str:
    email = given or _get("user.email")
    if not email:
        raise UsageError("commit signing needs your email (allowed_signers names the signer by it)",
                         hint="pass --email you@example.com (or set git config --global user.email)")
    if any(c.isspace() for c in email) or '"' in email:
        raise UsageError(f"--email {email!r}: an allowed_signers principal cannot hold spaces or quotes")
    return email


def configure(home: Path, key_path: Path, public_line: str, email: str, socket: Path, *,
              overwrite: bool) -> SigningResult:
    """git signs commits with the key; verification works locally (see the module's docstring)."""
    signers = allowed_signers_path(home)
    program = program_path(home)
    wanted = {
        "gpg.format": "ssh",
        "user.signingkey": str(key_path),
        "gpg.ssh.allowedSignersFile": str(signers),
        "gpg.ssh.program": str(program),
        "commit.gpgsign": "true",  # last: never on before the rest is in place
    }
    current = {k: _get(k) for k in wanted}
    kept = tuple((k, have, want) for k, want in wanted.items()
                 if (have := current[k]) is not None and not _same(have, want))
    if kept and not overwrite:
        return SigningResult(kept=kept, allowed_signers=str(signers), program=str(program))
    text = WRAPPER.format(socket=str(socket).replace("'", "'\\''"))
    if (fsutil.read_bytes(program) or b"") != text.encode():
        fsutil.ensure_private_dir(program.parent, None)
        fsutil.replace_file(program, text.encode(), default_mode=0o755, owner=None)
    added = _add_signer(signers, signer_line(email, public_line))
    written = _write_all(wanted, current)
    return SigningResult(written=written, kept=kept, allowed_signers=str(signers),
                         signer_added=added, program=str(program))


def _same(have: str | None, want: str) -> bool:
    """git reads booleans and these names case-insensitively (`True` is `true`)."""
    return have is not None and have.lower() == want.lower()


def _write_all(wanted: dict[str, str], current: dict[str, str | None]) -> tuple[str, ...]:
    written: list[str] = []
    try:
        for key, value in wanted.items():
            if _same(current[key], value):
                continue
            _set(key, value)
            written.append(key)
    except BaseException:
        for key in reversed(written):  # what was there before, so that no half state is left
            _set(key, current[key])
        raise
    return tuple(written)


def _add_signer(path: Path, line: str) -> bool:
    """Append the line unless that principal and key are already there (other lines kept byte for byte)."""
    data = fsutil.read_bytes(path) or b""
    principal, key = line.split()[0], " ".join(line.split()[-2:])
    for old in data.decode(errors="replace").splitlines():
        words = old.split()
        if len(words) >= 3 and words[0] == principal and " ".join(words[-2:]) == key:
            return False
    if not path.parent.exists():
        fsutil.ensure_private_dir(path.parent, None)
    sep = b"" if not data or data.endswith(b"\n") else b"\n"
    fsutil.replace_file(path, data + sep + line.encode() + b"\n", default_mode=0o644, owner=None)
    return True


def rotate_signers(path: Path, email: str, old_line: str, new_line: str, when: str) -> None:
    """After a rotation at `when` (YYYYMMDDHHMMSSZ): the old key valid before it, the new one after.
    git checks these against the commit's own date (the signer's claim)."""
    data = fsutil.read_bytes(path) or b""
    old_key = " ".join(old_line.split()[:2])
    kept = [ln for ln in data.decode(errors="replace").splitlines()
            if not (ln.split()[:1] == [email] and " ".join(ln.split()[-2:]) == old_key)]
    kept.append(signer_line(email, old_line, valid_before=when))
    kept.append(signer_line(email, new_line, valid_after=when))
    fsutil.replace_file(path, ("\n".join(kept) + "\n").encode(), default_mode=0o644, owner=None)


def signs_with(key_path: Path) -> bool:
    """Whether git is set up (by onboard or by hand) to sign with the key at `key_path`."""
    return (_get("gpg.format") or "").lower() == "ssh" and _get("user.signingkey") == str(key_path)


def after_rotation(home: Path, key_path: Path, old_line: str, new_line: str, email: str | None,
                   when: str) -> str | None:
    """`keys rotate` moved the key: user.signingkey is the same path (now the new key); allowed_signers
    gets the old key valid before `when` and the new one after. The file changed, or None."""
    if not signs_with(key_path):
        return None
    path = allowed_signers_path(home)
    principal = email or _principal_of(path, old_line) or _get("user.email")
    if not principal:
        return None
    rotate_signers(path, principal, old_line, new_line, when)
    return str(path)


def _principal_of(path: Path, public_line: str) -> str | None:
    key = " ".join(public_line.split()[:2])
    for line in (fsutil.read_bytes(path) or b"").decode(errors="replace").splitlines():
        if line.split() and " ".join(line.split()[-2:]) == key:
            return line.split()[0]
    return None


@dataclass(frozen=True)
class Health:
    configured: bool
    key: str = ""
    problems: tuple[tuple[str, str], ...] = ()  # (what is wrong, its fix)
    locked: bool = False
    verified: bool = False


def health(home: Path) -> Health:
    """Signing as git has it: the key there, allowed_signers holding it, a sign/verify round trip
    through gpg.ssh.program (what git runs). Read-only, for doctor."""
    import tempfile

    if (_get("gpg.format") or "").lower() != "ssh" or (_get("commit.gpgsign") or "").lower() != "true":
        return Health(False)
    key = _get("user.signingkey") or ""
    pub = Path(key + ".pub") if key and not key.startswith("key::") else None
    if pub is None or not pub.exists():
        return Health(True, key, (("the signing key has no public half at " + (str(pub) if pub else key),
                                   "onboard keygen --signing --signing-overwrite"),))
    public_line = pub.read_text(errors="replace")
    signers = allowed_signers_path(home)
    principal = _principal_of(signers, public_line)
    if principal is None:
        return Health(True, key, ((f"{signers} does not hold the signing key: git cannot verify your commits",
                                   "onboard keygen --signing"),))
    program = _get("gpg.ssh.program") or "ssh-keygen"
    with tempfile.TemporaryDirectory(prefix="onboard-sign-") as tmp:
        data = Path(tmp) / "data"
        data.write_bytes(b"onboard doctor\n")
        signed = proc.run([program, "-Y", "sign", "-n", "git", "-f", key, str(data)], timeout=30)
        if signed.returncode != 0:
            return Health(True, key, locked=True)
        checked = proc.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", principal, "-n", "git",
                            "-s", str(data) + ".sig"], timeout=30, input=data.read_bytes())
    if checked.returncode != 0:
        return Health(True, key, ((f"a signature of the key does not verify against {signers}",
                                   "onboard keygen --signing --signing-overwrite"),))
    return Health(True, key, verified=True)
