"""Clone over SSH: URL checks, the destination on the right disk, a safe `git clone`.

Nothing reaches git until the URL is known to be plain SSH and the destination is free;
a failed or interrupted clone removes only the directory this run created.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from onboarding import proc, repourl
from onboarding.errors import ConflictError, GitError, NetworkError, UsageError
from onboarding.instance import Target

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.+)$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HELPER = re.compile(r"^[A-Za-z0-9+.-]+::")
WIPED = Path("/mnt")
KEPT_UNDER_MNT = Path("/mnt/batch/tasks/shared/LS_root/mounts")  # the cloudfiles share's real place

TRADE_OFF = {
    "local": "local disk: fast for git and many small files, but lost when the instance is deleted "
    "or recreated (stop/start keeps it)",
    "cloudfiles": "cloudfiles share: kept when the instance is recreated and visible to every instance "
    "of the workspace and to Jupyter/the studio, but slower, especially for many small files and "
    "`git status`",
}


@dataclass(frozen=True)
class RepoUrl:
    text: str
    user: str | None
    host: str
    port: int
    path: str

    @property
    def name(self) -> str:
        """The folder name git would choose: last path segment without .git."""
        last = self.path.rstrip("/").rsplit("/", 1)[-1]
        return last[:-4] if last.endswith(".git") else last


def _https_hint(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "use the SSH form git@HOST:ORG/REPO.git"
    path = parts.path.strip("/")
    host = parts.hostname or "HOST"
    if host == "dev.azure.com" and "/_git/" in path:
        org_proj, repo = path.split("/_git/", 1)
        return f"use the SSH form: git@ssh.dev.azure.com:v3/{org_proj}/{repo}"
    if path:
        return f"use the SSH form: git@{host}:{path if path.endswith('.git') else path + '.git'}"
    return "use the SSH form git@HOST:ORG/REPO.git"


def parse_url(url: str) -> RepoUrl:
    """Accept scp-like and ssh:// URLs only; everything else is refused with the reason (exit 2)."""
    text = url.strip()
    shown = repourl.mask(text)  # a token in the URL never reaches the terminal
    if not text or any(ord(c) < 32 for c in text):
        raise UsageError(f"not a repository URL: {repourl.mask(url)!r}")
    if text.startswith("-"):
        raise UsageError(f"refusing {shown!r}: it starts with '-' and would be read as an option")
    if _HELPER.match(text):
        raise UsageError(f"refusing {shown!r}: remote helpers ({text.split('::')[0]}::) can run commands")
    m = _SCHEME.match(text)
    if m:
        return _parse_scheme(text, m.group(1).lower())
    scp = _SCP.match(text)
    if not scp or "/" in text.split(":", 1)[0]:
        raise UsageError(f"refusing {shown!r}: local paths are not cloned",
                         hint="give an SSH URL: git@HOST:ORG/REPO.git")
    return _checked(RepoUrl(text, scp["user"], scp["host"], 22, scp["path"]))


def _parse_scheme(text: str, scheme: str) -> RepoUrl:
    shown = repourl.mask(text)
    if scheme in ("http", "https"):
        raise UsageError(f"refusing {shown!r}: this tool clones over SSH", hint=_https_hint(text))
    if scheme not in ("ssh", "git+ssh", "ssh+git"):
        raise UsageError(f"refusing {shown!r}: {scheme}:// is not SSH", hint="give an SSH URL: git@HOST:ORG/REPO.git")
    try:
        parts = urlsplit(text)
        port = parts.port or 22
    except ValueError as exc:  # "Invalid IPv6 URL", a port out of range, ...
        raise UsageError(f"refusing {shown!r}: {exc}") from None
    if not parts.hostname or not parts.path.strip("/"):
        raise UsageError(f"refusing {shown!r}: no host or no repository path")
    return _checked(RepoUrl(text, parts.username, parts.hostname, port, parts.path))


def names_port(u: RepoUrl) -> bool:
    """Whether the URL itself names a port (ssh://host:22/...): git then passes it as `ssh -p`."""
    if not _SCHEME.match(u.text):
        return False  # the scp-like form has no place for a port
    try:
        return urlsplit(u.text).port is not None
    except ValueError:
        return False


def with_user(u: RepoUrl, user: str) -> RepoUrl:
    """The same URL with a login user (for scp-like and ssh:// forms alike)."""
    if _SCHEME.match(u.text):
        scheme, rest = u.text.split("://", 1)
        return parse_url(f"{scheme}://{user}@{rest}")
    return parse_url(f"{user}@{u.text}")


def _checked(u: RepoUrl) -> RepoUrl:
    if not _HOST.match(u.host):
        raise UsageError(f"refusing {repourl.mask(u.text)!r}: bad host name {u.host!r}")
    if u.user is not None and not _USER.match(u.user):
        raise UsageError(f"refusing {repourl.mask(u.text)!r}: bad user name {u.user!r}")
    if u.path.startswith("-") or not _NAME.match(u.name) or u.name in (".", ".."):
        raise UsageError(f"refusing {repourl.mask(u.text)!r}: cannot make a safe folder name from its path")
    return u


# -- destination -------------------------------------------------------------------
@dataclass(frozen=True)
class Destination:
    path: Path
    target: str  # local, cloudfiles, dest


def cloudfiles_folders(root: Path) -> list[str]:
    """The people's folders under <share>/Users/ (sorted)."""
    users = root / "Users"
    return sorted(p.name for p in users.iterdir() if p.is_dir()) if users.is_dir() else []


def cloudfiles_user(root: Path, given: str | None) -> str:
    """The folder under Users/: the given one, else the only one there. Never a guess from the
    login name: on a compute instance that is `azureuser` for everyone."""
    if given:
        if not _NAME.match(given):
            raise UsageError(f"--cloudfiles-user {given!r}: not a plain folder name")
        return given
    folders = cloudfiles_folders(root)
    if len(folders) == 1:
        return folders[0]
    found = f"{len(folders)} folders there ({', '.join(folders)})" if folders else "no folder there"
    raise UsageError(f"which folder under {root / 'Users'} is yours? {found}",
                     hint="pass --cloudfiles-user NAME (ONBOARD_CLOUDFILES_USER), e.g. the one the studio shows")


def resolve_destination(url: RepoUrl, *, target: str, dest: Path | None, local_root: Path | None,
                        cloudfiles_root: Path | None, cloudfiles_user_name: str | None, tgt: Target) -> Destination:
    if dest is not None:
        if str(dest).startswith("-"):
            raise UsageError(f"--dest {dest}: a path starting with '-' would be read as an option")
        return _not_wiped(Destination(Path(os.path.abspath(dest.expanduser())), "dest"))
    if target == "local":
        root = (local_root or tgt.home).expanduser()
        return _not_wiped(Destination(Path(os.path.abspath(root)) / url.name, "local"))
    root = (cloudfiles_root or tgt.home / "cloudfiles" / "code").expanduser()
    if not root.is_dir():
        raise UsageError(
            f"the cloudfiles share is not mounted at {root}",
            hint="on a compute instance it is ~/cloudfiles/code; elsewhere use --target local or --cloudfiles-root DIR",
        )
    name = cloudfiles_user(root, cloudfiles_user_name)
    return _not_wiped(Destination(Path(os.path.abspath(root)) / "Users" / name / url.name, "cloudfiles"))


def _not_wiped(d: Destination) -> Destination:
    real = Path(os.path.realpath(d.path))
    if (real == WIPED or WIPED in real.parents) and KEPT_UNDER_MNT not in real.parents:
        raise UsageError(f"refusing {d.path}: /mnt is a temporary disk, wiped when the instance restarts",
                         hint="use --target local (your home) or --target cloudfiles")
    return d


CONFIG_TIMEOUT = 30.0  # seconds to read a folder's .git/config: a FIFO planted there would block git


def existing_clone_url(path: Path) -> str | None:
    """The origin URL when `path` is already a git work tree, else None (read as its owner: us)."""
    if not (path / ".git").exists():
        return None
    # The file only: no `git config` of the repository's choosing runs (includes stay unread).
    done = proc.run(["git", "config", "--file", str(path / ".git" / "config"), "--get", "remote.origin.url"],
                    timeout=CONFIG_TIMEOUT)
    return done.out.strip() or None


def same_repository(existing: str | None, wanted: str) -> bool:
    """Two URLs name the same repository: scp and ssh:// forms, user, host case, .git and / aside."""
    from onboarding.repourl import normalize

    return existing is not None and normalize(existing) == normalize(wanted)


def check_free(path: Path) -> None:
    if os.path.lexists(path) and (path.is_symlink() or not path.is_dir() or any(path.iterdir())):
        raise ConflictError(f"{path} already exists and is not empty; nothing was changed",
                            hint="choose another --dest, or move that folder away")


# -- running git -------------------------------------------------------------------
@dataclass(frozen=True)
class SshOptions:
    key: Path
    known_hosts: Path
    batch: bool
    agent_sock: Path | None = None
    connect_timeout: float = 10


# A server that answers TCP and then says nothing, or stops mid-transfer, must not hang us: ssh
# gives up after ConnectTimeout while connecting and after 4 unanswered keep-alives (about a
# minute) later, however large the clone (no total timeout that would kill a big one).
ALIVE_INTERVAL, ALIVE_COUNT = 15, 4


def ssh_argv(o: SshOptions) -> list[str]:
    """ssh with exactly this key, the verified known_hosts, and never a question about hosts."""
    parts = ["ssh", "-i", str(o.key), "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", f"UserKnownHostsFile={o.known_hosts}", "-o", "UpdateHostKeys=no",
             "-o", f"ConnectTimeout={max(1, round(o.connect_timeout))}",
             "-o", f"ServerAliveInterval={ALIVE_INTERVAL}", "-o", f"ServerAliveCountMax={ALIVE_COUNT}"]
    if o.batch:
        parts += ["-o", "BatchMode=yes"]
    return parts + identity_agent(o.agent_sock)


def identity_agent(sock: Path | None) -> list[str]:
    """Name the agent this run means, always: the managed block may name the persistent agent
    (`IdentityAgent`, day two), which would otherwise win over SSH_AUTH_SOCK and sign with
    another key. None: no agent at all (ssh reads the key file, asking on a terminal)."""
    if sock is None:
        return ["-o", "IdentityAgent=none"]
    text = str(sock).replace("%", "%%")  # ssh expands %-tokens in IdentityAgent
    return ["-o", f'IdentityAgent="{text}"' if any(c.isspace() for c in text) else f"IdentityAgent={text}"]


def ssh_command(o: SshOptions) -> str:
    return shlex.join(ssh_argv(o))


def git_env(o: SshOptions) -> dict[str, str]:
    """What git gets on top of the allowlist (proc.py drops every GIT_* and SSH_* of the caller)."""
    env = {"GIT_SSH_COMMAND": ssh_command(o), "GIT_TERMINAL_PROMPT": "0"}
    if o.agent_sock is not None:
        env["SSH_AUTH_SOCK"] = str(o.agent_sock)
    return env


def git_clone_argv(url: RepoUrl, dest: Path, *, branch: str | None, depth: int | None, progress: bool) -> list[str]:
    # Only the ssh transport, even for whatever the clone might follow later (no ext::, file://).
    argv = ["git", "-c", "protocol.allow=never", "-c", "protocol.ssh.allow=always", "clone"]
    argv.append("--progress" if progress else "--quiet")
    if branch:
        if branch.startswith("-"):
            raise UsageError(f"--branch {branch!r}: a branch name cannot start with '-'")
        argv += ["--branch", branch]
    if depth:
        argv += ["--depth", str(depth)]
    return [*argv, "--", url.text, str(dest)]


# ssh's own words for "could not reach the server" (resolve, connect, time out): exit 4, not 6.
_NETWORK = ("Could not resolve hostname", "Connection refused", "Connection timed out", "Network is unreachable",
            "No route to host", "Connection reset by peer", "Connection closed by remote host",
            "Operation timed out", "Name or service not known", "Temporary failure in name resolution",
            "Timeout, server", "not responding", "kex_exchange_identification", "Connection to .* timed out")


def failure(returncode: int, message: str) -> GitError | NetworkError:
    text = f"git clone failed (exit {returncode})" + (f":\n{message}" if message else "")
    if any(re.search(n, message) for n in _NETWORK):
        return NetworkError(text, hint="check the network, a proxy or firewall, and the host name; "
                            "nothing was cloned, run the same command again when the host is reachable")
    return GitError(text)


def run_clone(url: RepoUrl, dest: Path, o: SshOptions, *, branch: str | None, depth: int | None,
              progress: bool) -> None:
    """git clone into `dest`; on any failure or interrupt remove what this run created."""
    created = not os.path.lexists(dest)
    parents = make_parents(dest.parent)
    argv = git_clone_argv(url, dest, branch=branch, depth=depth, progress=progress)
    # On a terminal git shows its progress there and ssh may ask there: same session, no capture.
    child = proc.start(argv, extra=git_env(o), stdout=proc.DEVNULL, stderr=None if progress else proc.PIPE,
                       own_group=not progress)
    try:
        done = proc.finish(child, deadline=None)
    except BaseException:
        proc.kill_group(child) if not progress else child.kill()
        child.wait()
        remove_created(dest, created, parents)
        raise
    if done.returncode != 0:
        remove_created(dest, created, parents)
        raise failure(done.returncode, done.err.strip())


def make_parents(path: Path) -> list[Path]:
    """mkdir -p (as the user we act for: their links are theirs to follow); returns what it made."""
    missing = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:  # a concurrent clone of this run made the same parent a moment ago
            if not d.is_dir():
                raise
    return missing


def remove_created(dest: Path, created: bool, parents: list[Path] | tuple[Path, ...] = ()) -> None:
    """Undo a failed clone: the folder if this run created it, else only its contents; then the
    parent folders made for it, if they are empty (a concurrent clone's parent stays)."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
    elif dest.is_dir():  # it was an empty folder before: make it empty again
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    for d in parents:  # the folders made for it, deepest first; rmdir removes only an empty one
        try:
            os.rmdir(d)
        except OSError:
            break
