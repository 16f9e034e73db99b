"""argparse only: parse, build Settings, dispatch to a command, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from onboarding import __version__
from onboarding.console import Console, Result
from onboarding.errors import ExitCode, OnboardError, UsageError

if TYPE_CHECKING:
    from onboarding.secrets import Secrets
    from onboarding.settings import Settings

S = argparse.SUPPRESS  # every option defaults to "not given", so settings.py sees only typed flags
GLOBAL_WITH_VALUE = ("--config", "--user")


class _Parser(argparse.ArgumentParser):
    """argparse's errors become a UsageError, so --json still prints exactly one document; with
    --json, --help and --version are answered as one document too (`answers` collects them)."""

    answers: list[dict[str, str]] | None = None  # set by main() when --json was asked for

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"see `{self.prog} --help`")

    def print_help(self, file: Any = None) -> None:
        if _Parser.answers is None:
            return super().print_help(file)
        _Parser.answers.append({"help": self.format_help()})
        return None

    def _print_message(self, message: str, file: Any = None) -> None:
        if _Parser.answers is None:
            return super()._print_message(message, file)
        if message:  # argparse's version action prints through here
            _Parser.answers.append({"version": message.strip()})
        return None

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


def _keyvault_options(g: Any) -> None:
    g.add_argument("--keyvault-client-id", metavar="ID", default=S,
                   help="client id of a user-assigned managed identity for Key Vault")
    g.add_argument("--keyvault-timeout", type=float, metavar="S", default=S,
                   help="total seconds for each Key Vault read (default 20)")


def _key_options(p: argparse.ArgumentParser, *, making: bool = True) -> None:
    """The key's options; `making=False` (doctor): only which key and how to open it."""
    g = p.add_argument_group("key options")
    if making:
        g.add_argument("--email", metavar="TEXT", default=S, help="key comment (default: user@host)")
    g.add_argument("--key-type", choices=("rsa", "ed25519"), default=S,
                   help="rsa (default; Azure DevOps accepts only RSA) or ed25519")
    if making:
        g.add_argument("--bits", type=int, default=S, help="RSA size, at least 3072 (default 4096)")
    g.add_argument("--key-file", type=Path, metavar="PATH", default=S,
                   help="private key path (default ~/.ssh/id_rsa or ~/.ssh/id_ed25519)")
    if making:
        g.add_argument("--kdf-rounds", type=int, metavar="N", default=S,
                       help="bcrypt KDF rounds (default 24, as OpenSSH >= 9.4)")
    g.add_argument("--passphrase-file", type=Path, metavar="FILE", default=S,
                   help="read the passphrase from FILE (one trailing newline ignored)")
    g.add_argument("--passphrase-stdin", action="store_true", default=S,
                   help="read the passphrase from standard input")
    g.add_argument("--passphrase-env", metavar="VAR", default=S,
                   help="read the passphrase from environment variable VAR")
    g.add_argument("--passphrase-keyvault", metavar="REF", default=S,
                   help="read the passphrase from Azure Key Vault: VAULT/NAME or https://HOST/secrets/NAME "
                   "(the instance's managed identity; needs onboarding[azure])")
    _keyvault_options(g)
    if making:
        g.add_argument("--no-passphrase", action="store_true", default=S,
                       help="create a key without a passphrase (only when asked for)")
        g.add_argument("--force", action="store_true", default=S,
                       help="replace an existing key, moving the old pair to a timestamped backup")
        g.add_argument("--signing", action="store_true", default=S,
                       help="sign commits with this key: git's config and allowed signers (docs/signing.md)")
        g.add_argument("--signing-overwrite", action="store_true", default=S,
                       help="with --signing: replace signing settings git already has (default: keep and report)")


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
    g.add_argument("--ssh-over-443", choices=("auto", "always", "never"), default=S,
                   help="use a provider's fallback endpoint (GitHub: ssh.github.com:443) when port 22 is "
                   "blocked (auto, the default), always, or never")


def _clone_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("clone options")
    g.add_argument("--target", choices=("local", "cloudfiles"), default=S,
                   help="local disk (fast, lost with the instance) or the cloudfiles share (kept, slower)")
    g.add_argument("--dest", type=Path, metavar="DIR", default=S, help="clone exactly here")
    g.add_argument("--local-root", type=Path, metavar="DIR", default=S, help="local target root (default ~)")
    g.add_argument("--cloudfiles-root", type=Path, metavar="DIR", default=S,
                   help="cloudfiles share (default ~/cloudfiles/code)")
    g.add_argument("--cloudfiles-user", metavar="NAME", default=S,
                   help="folder under Users/ (default: the only one there; several or none: asked, or exit 2)")
    g.add_argument("--branch", metavar="NAME", default=S, help="branch to check out")
    g.add_argument("--depth", type=int, metavar="N", default=S, help="shallow clone of N commits")


class _TokenFile(argparse.Action):
    """--token-file FILE (one provider) or --token-file PROVIDER=FILE (repeatable)."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any,
                 option: str | None = None) -> None:
        text = str(value)
        name, eq, _ = text.partition("=")
        if eq and name and "/" not in name and name == name.lower():
            ns.token_files = [*getattr(ns, "token_files", []), text]
        else:
            ns.token_file = Path(text)


def _upload_options(p: argparse.ArgumentParser) -> None:
    # argparse wraps a group's description, not its title: the token list goes in the description
    g = p.add_argument_group("key API options", "tokens: GH_TOKEN/GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, "
                             "ONBOARD_<PROVIDER>_TOKEN, or --token-file")
    g.add_argument("--github-api", metavar="URL", default=S,
                   help="GitHub API (default https://api.github.com; Enterprise: https://HOST/api/v3)")
    g.add_argument("--gitlab-url", metavar="URL", default=S, help="GitLab address (default https://gitlab.com)")
    g.add_argument("--bitbucket-api", metavar="URL", default=S,
                   help="Bitbucket Cloud API (default https://api.bitbucket.org/2.0)")
    g.add_argument("--bitbucket-email", metavar="EMAIL", default=S,
                   help="Atlassian account email, the user name of a Bitbucket API token (or BITBUCKET_EMAIL)")
    g.add_argument("--token-file", action=_TokenFile, metavar="[PROVIDER=]FILE", default=S,
                   help="read a provider's API token from FILE (repeatable as PROVIDER=FILE; "
                        "a bare FILE only with one provider)")
    g.add_argument("--token-keyvault", action="append", metavar="PROVIDER=REF", default=S,
                   help="read PROVIDER's token from Azure Key Vault (repeatable), e.g. github=myvault/gh-token")


def _providers_option(p: argparse.ArgumentParser,
                      default: str = "all built in; setup: those of the --repo URLs") -> None:
    p.add_argument("--providers", type=_providers_list, action="extend", metavar="LIST", default=S,
                   help=f"providers, comma-separated (default: {default})")


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
    g = p.add_argument_group("git identity (set only when missing; the email is --email, when given)")
    g.add_argument("--git-name", metavar="NAME", default=S, help="git user.name for your commits")
    g.add_argument("--git-identity-overwrite", action="store_true", default=S,
                   help="replace a user.name / user.email already set (default: keep it and report)")
    p.add_argument("--keep-unlocked", action="store_true", default=S,
                   help="keep the key unlocked in your persistent ssh-agent until the instance stops, so git "
                   "works from VS Code, Jupyter and cron (every process of yours, and root, can then use it)")


def _keygen(p: argparse.ArgumentParser) -> None:
    _key_options(p)
    _providers_option(p)
    p.add_argument("--providers-file", type=Path, metavar="FILE", default=S, help=argparse.SUPPRESS)


def _hosts(p: argparse.ArgumentParser) -> None:
    hsub = p.add_subparsers(dest="action", metavar="{verify,list}", required=True, parser_class=_Parser)
    v = hsub.add_parser("verify", help="probe providers and merge their pinned keys into known_hosts")
    _global(v)
    _host_options(v)
    v.add_argument("providers", nargs="*", metavar="PROVIDER", default=None)
    ls = hsub.add_parser("list", help="show the pinned providers, hosts and fingerprints")
    _global(ls)
    ls.add_argument("--providers-file", type=Path, metavar="FILE", default=S,
                    help="extra pinned providers (same schema as providers.toml)")


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
    _key_options(p, making=False)  # read-only: which key, and how to open it for --auth-test
    _providers_option(p, "the team file's providers, else those already in known_hosts")
    p.add_argument("--known-hosts", type=Path, metavar="FILE", default=S,
                   help="known_hosts to check (default ~/.ssh/known_hosts)")
    p.add_argument("--providers-file", type=Path, metavar="FILE", default=S,
                   help="extra pinned providers (same schema as providers.toml)")
    p.add_argument("--cloudfiles-root", type=Path, metavar="DIR", default=S,
                   help="cloudfiles share (default ~/cloudfiles/code)")
    p.add_argument("--timeout", type=float, metavar="S", default=S,
                   help="seconds for each connection of --auth-test (default 10)")
    p.add_argument("--auth-test", action="store_true", default=S,
                   help="also try `ssh -T` against each provider (network)")


def _agent_options(p: argparse.ArgumentParser, *, unlock: bool) -> None:
    """unlock / lock: which key (doctor's key options) and, for unlock, where the agent is named."""
    _key_options(p, making=False)
    if not unlock:
        return
    p.add_argument("--lifetime", type=int, metavar="S", default=S,
                   help="seconds the key stays in the agent (default: until the agent stops)")
    _providers_option(p, "those in the managed ssh config block, the team file's, else those in known_hosts")
    p.add_argument("--providers-file", type=Path, metavar="FILE", default=S,
                   help="extra pinned providers (same schema as providers.toml)")
    p.add_argument("--known-hosts", type=Path, metavar="FILE", default=S,
                   help="known_hosts that says which providers you use (default ~/.ssh/known_hosts)")


def _unlock(p: argparse.ArgumentParser) -> None:
    _agent_options(p, unlock=True)


def _lock(p: argparse.ArgumentParser) -> None:
    _agent_options(p, unlock=False)


def _keys(p: argparse.ArgumentParser) -> None:
    ksub = p.add_subparsers(dest="action", metavar="{upload,list,rotate,prune}", required=True, parser_class=_Parser)
    actions = {
        "upload": "register the public key through the providers' APIs",
        "list": "the keys on each account: the local one, onboard's for other instances, dates",
        "rotate": "new key -> registered -> verified by logging in -> old key removed -> old pair kept",
        "prune": "remove keys onboard registered for other instances, older than --older-than DAYS",
    }
    for action, help_text in actions.items():
        a = ksub.add_parser(action, help=help_text, description=help_text)
        _global(a)
        a.add_argument("upload", nargs="*", metavar="PROVIDER", default=None,
                       help="providers with a key API (default: every provider that has a token)")
        if action != "rotate":  # rotate takes every key option (the new key's type, passphrase ...)
            a.add_argument("--key-file", type=Path, metavar="PATH", default=S,
                           help="private key path; its .pub is the key (default ~/.ssh/id_rsa or id_ed25519)")
            a.add_argument("--key-type", choices=("rsa", "ed25519"), default=S,
                           help="which default key file (default rsa)")
        a.add_argument("--timeout", type=float, metavar="S", default=S,
                       help="seconds for each API request in total (default 10)")
        a.add_argument("--providers-file", type=Path, metavar="FILE", default=S,
                       help="extra providers (same schema as providers.toml; api, api_url name their key API)")
        _upload_options(a)
    ksub.choices["upload"].add_argument(
        "--signing", action="store_true", default=S,
        help="also register the key for signing commits (GitHub, GitLab; docs/signing.md)")
    prune = ksub.choices["prune"]
    prune.add_argument("--older-than", type=int, metavar="DAYS", default=S, help="only keys at least DAYS old")
    prune.add_argument("--dry-run", action="store_true", default=S, help="show what would go; remove nothing")
    prune.add_argument("--confirm-delete", action="store_true", default=S,
                       help="with -y: really delete (without it an unattended prune only lists)")
    rotate = ksub.choices["rotate"]
    _key_options(rotate)
    rotate.add_argument("--skip", type=_providers_list, action="extend", metavar="LIST", default=S,
                        help="providers without an API or token where the old key may stay (named explicitly)")
    rotate.add_argument("--known-hosts", type=Path, metavar="FILE", default=S,
                        help="known_hosts for the verifying login (default ~/.ssh/known_hosts)")
    _providers_option(rotate)


def _config(p: argparse.ArgumentParser) -> None:
    csub = p.add_subparsers(dest="action", metavar="{check}", required=True, parser_class=_Parser)
    c = csub.add_parser("check", help="validate a team file without running anything (every problem at once)")
    _global(c)
    c.add_argument("path", type=Path, metavar="FILE", help="the team file (TOML) to check")
    c.add_argument("--offline", action="store_true", default=S,
                   help="it will be used with --offline: every provider it selects needs full keys")


def _rollout(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rollout options (docs/rollout.md)")
    g.add_argument("--roster", type=Path, metavar="FILE", default=S,
                   help="CSV: instance,user_object_id,user_tenant_id[,size][,passphrase_keyvault]")
    g.add_argument("--script", type=Path, metavar="PATH", default=S,
                   help="the creation script: a file under the share's mount (--cloudfiles-root)")
    g.add_argument("--startup-script", type=Path, metavar="PATH", default=S,
                   help="a script run at every start (gets each row's --passphrase-keyvault)")
    g.add_argument("--size", metavar="SIZE", default=S, help="VM size of rows without one (default Standard_DS3_v2)")
    g.add_argument("--out", type=Path, metavar="DIR", default=S, help="where to write the files (default ./rollout)")
    g.add_argument("--cloudfiles-root", type=Path, metavar="DIR", default=S,
                   help="the share's mount here (default ~/cloudfiles/code)")
    g.add_argument("--team-file", type=Path, metavar="PATH", default=S,
                   help="team file under the mount: passed as --team-file with its --team-file-sha256")
    g.add_argument("--wheelhouse", type=Path, metavar="DIR", default=S,
                   help="wheelhouse under the mount: --source wheelhouse:DIR with its --requirements-sha256")
    g.add_argument("--script-arg", dest="script_args", action="append", metavar="ARG", default=S,
                   help="one more argument for the creation script (repeatable)")
    g.add_argument("--startup-arg", dest="startup_args", action="append", metavar="ARG", default=S,
                   help="one more argument for the startup script (repeatable)")
    g.add_argument("--timeout-minutes", type=int, metavar="N", default=S,
                   help="each script's time limit (default 15, Azure ML's own)")
    g.add_argument("--enable-root-access", action="store_true", default=S,
                   help="let members sudo on their instance (default: off, see the README written)")


def _nothing(p: argparse.ArgumentParser) -> None:
    pass


# One row a command: its help line and what adds its options. Dispatch is explicit below.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "setup": ("the whole flow: key, where to add it, host keys, clones, summary", _setup),
    "keygen": ("create (or reuse) the SSH key pair", _keygen),
    "hosts": ("pin provider host keys into known_hosts, or list the pins", _hosts),
    "clone": ("clone one repository over SSH to local disk or the cloudfiles share", _clone),
    "git-info": ("the Git tracking properties a job submitted from PATH would carry", _git_info),
    "doctor": ("read-only health checks, each with its fix", _doctor),
    "keys": ("the key on the providers' accounts: upload, list, rotate, prune", _keys),
    "demo": ("run setup end to end against a local sandbox server (no network)", _nothing),
    "unlock": ("add the key to your persistent ssh-agent: git works without a terminal (day two)", _unlock),
    "lock": ("remove the key from your persistent ssh-agent", _lock),
    "config": ("check a team file without running anything", _config),
    "rollout": ("write compute-instance YAML and an ARM template for a team's roster", _rollout),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `selected` gets its options (building all of them costs ~10 ms per start)."""
    parser = _Parser(
        prog="onboard",
        description="Get ready for Git over SSH: key, pinned host keys, clones, Azure ML Git tracking.",
        epilog="`onboard` with no command runs `onboard setup`. Every option also reads ONBOARD_<NAME>.",
    )
    parser.add_argument("--version", action="version", version=f"onboard {__version__}")
    _global(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, add_options) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            _global(p)
            add_options(p)
    return parser


def _takes_value(option: str) -> bool:
    """Does this option of `setup` (the default command) take a value? Asked only when in doubt."""
    name = option.split("=", 1)[0]
    if "=" in option:
        return False
    parser = build_parser("setup")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = sub.choices["setup"]._option_string_actions.get(name)
    return action is not None and action.nargs != 0


def command_of(argv: Sequence[str]) -> tuple[str, list[str]]:
    """The command word and the argv to parse: the first word that is not an option or its value.

    `onboard` alone, or with only options, is `onboard setup`; an unknown word is an error
    with the closest command, never an argument of the default command."""
    args = list(argv)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            break
        if a in ("-h", "--help", "--version"):
            return "", args
        if a.startswith("-"):
            i += 2 if a in GLOBAL_WITH_VALUE else 1
            continue
        if a in COMMANDS:
            return a, args
        if i > 0 and args[i - 1].startswith("-") and _takes_value(args[i - 1]):
            i += 1
            continue
        import difflib

        close = difflib.get_close_matches(a, list(COMMANDS), n=1, cutoff=0.5)
        raise UsageError(f"unknown command {a!r}" + (f"; did you mean {close[0]}?" if close else ""),
                         hint="commands: " + ", ".join(COMMANDS))
    return "setup", ["setup", *args]


def _flags(ns: argparse.Namespace) -> dict[str, Any]:
    flags = dict(vars(ns))
    flags.pop("command", None)
    flags.pop("action", None)
    for positional in ("providers", "upload"):  # `hosts verify` with no name: the team file's list applies
        if flags.get(positional) == []:
            del flags[positional]
    if "url" in flags:
        flags["repos"] = [flags.pop("url")]
    return flags


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into the same unwinding as Ctrl-C, so every cleanup (temp files,
    # half-made clones, the private ssh-agent) runs before we exit.
    raise KeyboardInterrupt


def _json_requested(argv: Sequence[str]) -> bool:
    # Known before parsing, so that a usage error is reported as JSON too.
    return "--json" in argv or os.environ.get("ONBOARD_JSON", "").strip().lower() in ("1", "true", "yes", "on")


def main(argv: Sequence[str] | None = None, handoff: Mapping[str, Any] | None = None,
         console: Console | None = None) -> int:
    """`console`: the terminal, injected by in-process tests (httpie's MockEnvironment)."""
    args = list(sys.argv[1:] if argv is None else argv)
    console = console or Console()
    console.json_mode = console.json_mode or _json_requested(args)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        command, args = command_of(args)
        _Parser.answers = [] if console.json_mode else None
        try:
            ns = build_parser(command or None).parse_args(args)
        except SystemExit as exc:  # --help or --version, answered: with --json as one document
            if _Parser.answers:
                console.emit(_Parser.answers[0])
            return int(exc.code or 0)
        except UsageError as exc:  # unknown options are reported by the top parser: name the command's help
            if command and exc.hint == "see `onboard --help`":
                exc.hint = f"see `onboard {command} --help`"
            raise
        console.quiet = bool(getattr(ns, "quiet", False))
        console.verbose = bool(getattr(ns, "verbose", False))
        return _run(ns, console, handoff, args)
    except OnboardError as exc:
        return console.fail(exc.message, exc.hint, int(exc.exit_code), exc.result)
    except KeyboardInterrupt:
        return console.fail("interrupted; nothing half-written was left behind", None, int(ExitCode.INTERRUPTED))
    except BrokenPipeError:
        return int(ExitCode.FAILURE)
    except Exception as exc:  # a bug: say so plainly, full trace only with --verbose
        code = console.fail(f"unexpected {type(exc).__name__}: {exc}",
                            "run again with --verbose and report it with the trace", int(ExitCode.FAILURE))
        if console.verbose:
            import traceback

            traceback.print_exc(file=console.stderr)
        return code


def _run(ns: argparse.Namespace, console: Console, handoff: Mapping[str, Any] | None, argv: list[str]) -> int:
    from onboarding import settings as settings_mod

    flags = _flags(ns)
    name = ns.command + (f" {ns.action}" if getattr(ns, "action", None) else "")
    if handoff is not None:
        from onboarding import privilege

        settings, secrets = privilege.load(flags, handoff, defer=name == "setup")
        for warning in secrets.warnings:
            console.warn(warning)
    elif flags.get("user") or os.environ.get("ONBOARD_USER"):
        from onboarding import privilege

        switch = privilege.switch_for(flags)
        if switch is not None:
            return privilege.hand_over(switch, flags, argv, console, defer=name == "setup")
    if handoff is None and name == "git-info":  # reads no team file and holds no secret: it must start fast
        from onboarding.commands import gitinfo

        return console.render(gitinfo.run(settings_mod.build(flags, os.environ, team_files=False), console))
    if handoff is None and name == "config check":  # judges FILE alone: no other team file, no secret
        from onboarding.commands import config

        return console.render(config.check_cmd(settings_mod.build(flags, os.environ, team_files=False), console))
    if handoff is None:
        from onboarding import secrets as sec

        # setup's pre-check reports bad values together with every other problem it finds
        settings = settings_mod.build(flags, os.environ, defer=name == "setup")
        secrets, _ = sec.load(settings, os.environ, stdin=sec.stdin_reader(), defer=name == "setup")
        for warning in secrets.warnings:
            console.warn(warning)
    return console.render(dispatch(name, settings, secrets, console))


def dispatch(command: str, settings: Settings, secrets: Secrets, console: Console) -> Result:
    """One explicit branch per command (pre-commit's main): grep and mypy follow every call."""
    from onboarding import prereqs

    prereqs.require(command)  # git, ssh, ssh-agent for the commands that run them: exit 2 with the hint
    if command == "setup":
        from onboarding.commands import setup

        return setup.run(settings, secrets, console)
    if command == "keygen":
        from onboarding.commands import keygen

        return keygen.run(settings, secrets, console)
    if command == "hosts verify":
        from onboarding.commands import hosts

        return hosts.verify_cmd(settings, console)
    if command == "hosts list":
        from onboarding.commands import hosts

        return hosts.list_cmd(settings, console)
    if command == "clone":
        from onboarding.commands import clone

        return clone.run(settings, secrets, console)
    if command == "git-info":
        from onboarding.commands import gitinfo

        return gitinfo.run(settings, console)
    if command == "doctor":
        from onboarding.commands import doctor

        return doctor.run(settings, secrets, console)
    if command == "keys upload":
        from onboarding.commands import keys

        return keys.upload_cmd(settings, secrets, console)
    if command == "keys list":
        from onboarding.commands import keys

        return keys.list_cmd(settings, secrets, console)
    if command == "keys prune":
        from onboarding.commands import keys

        return keys.prune_cmd(settings, secrets, console)
    if command == "keys rotate":
        from onboarding.commands import keys

        return keys.rotate_cmd(settings, secrets, console)
    if command == "unlock":
        from onboarding.commands import unlock

        return unlock.unlock_cmd(settings, secrets, console)
    if command == "lock":
        from onboarding.commands import unlock

        return unlock.lock_cmd(settings, secrets, console)
    if command == "config check":
        from onboarding.commands import config

        return config.check_cmd(settings, console)
    if command == "demo":
        from onboarding.commands import demo

        return demo.run(settings, console)
    if command == "rollout":
        from onboarding.commands import rollout

        return rollout.run(settings, console)
    raise UsageError(f"unknown command {command!r}")


def user_side(payload: Mapping[str, Any]) -> int:
    """Run the command root handed over, in the user side of --user (userside.py, privilege.become)."""
    if os.getuid() != payload.get("uid") or os.geteuid() != payload.get("uid"):
        print("onboard: error: privileges were not dropped; refusing to go on", file=sys.stderr)
        return int(ExitCode.USAGE)
    return main(payload["argv"], handoff=payload)
