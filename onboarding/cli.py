"""argparse only: parse, build Settings, dispatch to a command, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from onboarding import __version__
from onboarding.console import Console
from onboarding.errors import ExitCode, OnboardError

S = argparse.SUPPRESS  # every option defaults to "not given", so settings.py sees only typed flags

def _providers_list(text: str) -> list[str]:
    return [p for p in text.replace(",", " ").split() if p]


def _global(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("global options")
    g.add_argument("-y", "--non-interactive", action="store_true", default=S,
                   help="never prompt; a missing answer is an error (exit 2)")
    g.add_argument("--json", action="store_true", default=S, help="print one JSON result on stdout")
    g.add_argument("--config", type=Path, metavar="FILE", default=S, help="team TOML file")
    g.add_argument("--user", metavar="NAME", default=S,
                   help="(root only) act for this local user: their home, files owned by them")
    g.add_argument("-q", "--quiet", action="store_true", default=S, help="only results and errors")
    g.add_argument("-v", "--verbose", action="store_true", default=S, help="say more")


def _key_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("key options")
    g.add_argument("--email", metavar="TEXT", default=S, help="key comment (default: user@host)")
    g.add_argument("--key-type", choices=("rsa", "ed25519"), default=S,
                   help="rsa (default; Azure DevOps accepts only RSA) or ed25519")
    g.add_argument("--bits", type=int, default=S, help="RSA size, at least 3072 (default 4096)")
    g.add_argument("--key-file", type=Path, metavar="PATH", default=S,
                   help="private key path (default ~/.ssh/id_rsa or ~/.ssh/id_ed25519)")
    g.add_argument("--kdf-rounds", type=int, metavar="N", default=S,
                   help="bcrypt KDF rounds (default 24, as OpenSSH >= 9.4)")
    g.add_argument("--passphrase-file", type=Path, metavar="FILE", default=S,
                   help="read the passphrase from FILE (one trailing newline ignored)")
    g.add_argument("--passphrase-stdin", action="store_true", default=S,
                   help="read the passphrase from standard input")
    g.add_argument("--passphrase-env", metavar="VAR", default=S,
                   help="read the passphrase from environment variable VAR")
    g.add_argument("--no-passphrase", action="store_true", default=S,
                   help="create a key without a passphrase (only when asked for)")
    g.add_argument("--force", action="store_true", default=S,
                   help="replace an existing key, moving the old pair to a timestamped backup")


def _host_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("host key options")
    g.add_argument("--providers-file", type=Path, metavar="FILE", default=S,
                   help="extra pinned providers (same schema as providers.toml)")
    g.add_argument("--known-hosts", type=Path, metavar="FILE", default=S,
                   help="known_hosts to merge into (default ~/.ssh/known_hosts)")
    g.add_argument("--offline", action="store_true", default=S,
                   help="write the pinned keys without probing the servers")
    g.add_argument("--timeout", type=float, metavar="S", default=S,
                   help="seconds for each connection and key exchange (default 10)")
    g.add_argument("--hash", action=argparse.BooleanOptionalAction, default=S,
                   help="hash host names in known_hosts (default: ssh's HashKnownHosts)")


def _clone_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("clone options")
    g.add_argument("--target", choices=("local", "cloudfiles"), default=S,
                   help="local disk (fast, lost with the instance) or the cloudfiles share (kept, slower)")
    g.add_argument("--dest", type=Path, metavar="DIR", default=S, help="clone exactly here")
    g.add_argument("--local-root", type=Path, metavar="DIR", default=S, help="local target root (default ~)")
    g.add_argument("--cloudfiles-root", type=Path, metavar="DIR", default=S,
                   help="cloudfiles share (default ~/cloudfiles/code)")
    g.add_argument("--cloudfiles-user", metavar="NAME", default=S,
                   help="folder under Users/ (default: the only one there, else your login name)")
    g.add_argument("--branch", metavar="NAME", default=S, help="branch to check out")
    g.add_argument("--depth", type=int, metavar="N", default=S, help="shallow clone of N commits")


def _upload_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("key upload options (token from GH_TOKEN/GITHUB_TOKEN, GITLAB_TOKEN or --token-file)")
    g.add_argument("--github-api", metavar="URL", default=S,
                   help="GitHub API (default https://api.github.com; Enterprise: https://HOST/api/v3)")
    g.add_argument("--gitlab-url", metavar="URL", default=S, help="GitLab address (default https://gitlab.com)")
    g.add_argument("--token-file", type=Path, metavar="FILE", default=S, help="read the API token from FILE")


def _providers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--providers", type=_providers_list, action="extend", metavar="LIST", default=S,
                   help="providers, comma-separated (default: all built in; setup: those of the --repo URLs)")


def _setup(p: argparse.ArgumentParser) -> None:
    _key_options(p)
    _host_options(p)
    _clone_options(p)
    _providers_option(p)
    p.add_argument("--repo", dest="repos", action="append", metavar="URL", default=S,
                   help="repository to clone over SSH (repeatable)")
    p.add_argument("--upload", type=_providers_list, action="extend", metavar="LIST", default=S,
                   help="register the key through the API of github and/or gitlab before cloning")
    _upload_options(p)


def _keygen(p: argparse.ArgumentParser) -> None:
    _key_options(p)
    _providers_option(p)
    p.add_argument("--providers-file", type=Path, metavar="FILE", default=S, help=argparse.SUPPRESS)


def _hosts(p: argparse.ArgumentParser) -> None:
    hsub = p.add_subparsers(dest="hosts_command", metavar="ACTION", required=True)
    v = hsub.add_parser("verify", help="probe providers and merge their pinned keys into known_hosts")
    _global(v)
    _host_options(v)
    v.add_argument("providers", nargs="*", metavar="PROVIDER", default=None)
    ls = hsub.add_parser("list", help="show the pinned providers, hosts and fingerprints")
    _global(ls)
    ls.add_argument("--providers-file", type=Path, metavar="FILE", default=S)


def _clone(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    _clone_options(p)
    _host_options(p)
    _key_options(p)


def _git_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", type=Path, metavar="PATH", default=None)
    p.add_argument("--sdk", choices=("all", "v1", "v2"), default=S,
                   help="v2: azure-ai-ml; v1: azureml-core; all: the documentation's seven properties")
    p.add_argument("--timeout", dest="git_timeout", type=float, metavar="S", default=S,
                   help="one deadline for all of git's work (default 60)")
    p.add_argument("--job", type=Path, metavar="FILE", default=S,
                   help="compare with a job: `az ml job show` JSON, its properties, or MLflow run tags (- for stdin)")
    p.add_argument("--checkout", type=Path, metavar="DIR", default=S,
                   help="with --job: create a worktree at the job's commit in DIR (fetching it when missing)")


def _doctor(p: argparse.ArgumentParser) -> None:
    _key_options(p)
    _providers_option(p)
    p.add_argument("--known-hosts", type=Path, metavar="FILE", default=S)
    p.add_argument("--providers-file", type=Path, metavar="FILE", default=S)
    p.add_argument("--cloudfiles-root", type=Path, metavar="DIR", default=S)
    p.add_argument("--timeout", type=float, metavar="S", default=S)
    p.add_argument("--auth-test", action="store_true", default=S,
                   help="also try `ssh -T` against each provider (network)")


def _keys(p: argparse.ArgumentParser) -> None:
    ksub = p.add_subparsers(dest="hosts_command", metavar="ACTION", required=True)
    up = ksub.add_parser("upload", help="register the public key with GitHub and/or GitLab through their APIs")
    _global(up)
    up.add_argument("upload", nargs="*", metavar="PROVIDER", default=None, help="github, gitlab (default: both)")
    up.add_argument("--key-file", type=Path, metavar="PATH", default=S)
    up.add_argument("--key-type", choices=("rsa", "ed25519"), default=S)
    up.add_argument("--timeout", type=float, metavar="S", default=S)
    _upload_options(up)


def _nothing(p: argparse.ArgumentParser) -> None:
    pass


# One row a command: the module holding its function(s), its help line, what adds its options.
COMMANDS: dict[str, tuple[str, str, Callable[[argparse.ArgumentParser], None]]] = {
    "setup": ("setup", "the whole flow: key, where to add it, host keys, clones, summary", _setup),
    "keygen": ("keygen", "create (or reuse) the SSH key pair", _keygen),
    "hosts": ("hosts", "pin provider host keys into known_hosts, or list the pins", _hosts),
    "clone": ("clone", "clone one repository over SSH to local disk or the cloudfiles share", _clone),
    "git-info": ("gitinfo", "the Git tracking properties a job submitted from PATH would carry", _git_info),
    "doctor": ("doctor", "read-only health checks, each with its fix", _doctor),
    "keys": ("keys", "manage the public key at the providers (keys upload)", _keys),
    "demo": ("demo", "run setup end to end against a local sandbox server (no network)", _nothing),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `selected` gets its options (building all of them costs ~10 ms per start)."""
    parser = argparse.ArgumentParser(
        prog="onboard",
        description="Get ready for Git over SSH: key, pinned host keys, clones, Azure ML Git tracking.",
        epilog="`onboard` with no command runs `onboard setup`. Every option also reads ONBOARD_<NAME>.",
    )
    parser.add_argument("--version", action="version", version=f"onboard {__version__}")
    _global(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text, add_options) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            _global(p)
            add_options(p)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    if any(a in COMMANDS for a in argv) or any(a in ("-h", "--help", "--version") for a in argv):
        return argv
    return ["setup", *argv]


def _flags(ns: argparse.Namespace) -> dict[str, Any]:
    flags = dict(vars(ns))
    flags.pop("command", None)
    flags.pop("hosts_command", None)
    if "url" in flags:
        flags["repos"] = [flags.pop("url")]
    return flags


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into the same unwinding as Ctrl-C, so every cleanup (temp files,
    # half-made clones, the private ssh-agent) runs before we exit.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    selected = next((a for a in args if a in COMMANDS), None)
    ns = build_parser(selected).parse_args(args)
    console = Console(
        json_mode=bool(getattr(ns, "json", False)),
        quiet=bool(getattr(ns, "quiet", False)),
        verbose=bool(getattr(ns, "verbose", False)),
    )
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from onboarding import settings as settings_mod

        settings = settings_mod.build(_flags(ns))
        command = ns.command + ("." + ns.hosts_command if ns.command in ("hosts", "keys") else "")
        return _dispatch(command, settings, console)
    except OnboardError as exc:
        console.error(exc.message, exc.hint)
        console.emit_json({"error": exc.message, "hint": exc.hint, "exit_code": int(exc.exit_code)})
        return int(exc.exit_code)
    except KeyboardInterrupt:
        console.error("interrupted; nothing half-written was left behind")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.FAILURE)
    except Exception as exc:  # a bug: say so plainly, full trace only with --verbose
        console.error(f"unexpected {type(exc).__name__}: {exc}",
                      "run again with --verbose and report it with the trace")
        if console.verbose:
            import traceback

            traceback.print_exc(file=console.stderr)
        return int(ExitCode.FAILURE)


def _dispatch(command: str, settings: Any, console: Console) -> int:
    name, _, action = command.partition(".")
    module = importlib.import_module("onboarding.commands." + COMMANDS[name][0])
    func: Callable[[Any, Console], int] = getattr(module, f"{action}_cmd" if action else "run")
    return func(settings, console)
