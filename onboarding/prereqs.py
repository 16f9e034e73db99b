"""The programs a command runs, checked before it starts: a missing one is exit 2 with the
package that provides it, not a traceback (or exit 1) half-way through."""

from __future__ import annotations

from onboarding import proc
from onboarding.errors import UsageError

PACKAGES = {"git": "git", "ssh": "openssh-client", "ssh-agent": "openssh-client", "ssh-keygen": "openssh-client",
            "ssh-add": "openssh-client"}

# What each command starts. keygen, hosts and keys talk through Python libraries; git-info
# reports a missing git as a warning (as the SDK does); doctor reports it as a failed check.
NEEDS = {
    "setup": ("git", "ssh", "ssh-agent"),
    "clone": ("git", "ssh", "ssh-agent"),
    "demo": ("git", "ssh", "ssh-agent"),
    "unlock": ("ssh-agent", "ssh-add"),  # ssh-add: the shell block's liveness test
}


def missing(tools: tuple[str, ...]) -> list[str]:
    return [t for t in tools if not proc.which(t)]


def require(command: str) -> None:
    absent = missing(NEEDS.get(command, ()))
    if not absent:
        return
    packages = sorted({PACKAGES[t] for t in absent})
    fedora = " ".join("openssh-clients" if p == "openssh-client" else p for p in packages)
    raise UsageError(f"`onboard {command}` needs {', '.join(absent)}, which {'is' if len(absent) == 1 else 'are'} "
                     "not installed (or not on PATH)",
                     hint=f"install {' '.join(packages)}: sudo apt-get install {' '.join(packages)} "
                     f"(Fedora/RHEL: sudo dnf install {fedora})")
