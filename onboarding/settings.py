"""One frozen Settings: defaults < team TOML < ONBOARD_* environment < flags.

Every option has one entry in OPTIONS: its type, its default, and whether the team file
may set it. cli.py hands over only the flags the user actually typed; the rest comes
from the environment, then the file, then the defaults, so precedence lives here alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from onboarding.errors import UsageError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

KEY_TYPES = ("rsa", "ed25519")
TARGETS = ("local", "cloudfiles")
SDKS = ("all", "v1", "v2")
SSH_OVER_443 = ("auto", "always", "never")


class Settings(NamedTuple):
    """Immutable; a NamedTuple rather than a dataclass because it is built on every start-up."""

    # global
    non_interactive: bool = False
    json: bool = False
    config: Path | None = None
    user: str | None = None
    quiet: bool = False
    verbose: bool = False
    # keygen / setup
    email: str | None = None
    key_type: str = "rsa"
    bits: int = 4096
    key_file: Path | None = None
    kdf_rounds: int = 24
    passphrase_file: Path | None = None
    passphrase_stdin: bool = False
    passphrase_env: str | None = None
    no_passphrase: bool = False
    passphrase_keyvault: str | None = None  # VAULT/NAME or https://HOST/secrets/NAME (keyvault.py)
    force: bool = False
    # hosts
    providers: tuple[str, ...] = ()
    providers_file: Path | None = None
    known_hosts: Path | None = None
    offline: bool = False
    timeout: float = 10.0
    hash: bool | None = None
    ssh_over_443: str = "auto"  # auto|always|never: a provider's fallback endpoint when port 22 is blocked
    # clone / setup
    repos: tuple[str, ...] = ()
    target: str = "local"
    dest: Path | None = None
    local_root: Path | None = None
    cloudfiles_root: Path | None = None
    cloudfiles_user: str | None = None
    branch: str | None = None
    depth: int | None = None
    # git identity (setup): user.name; the email is `email`, when given explicitly
    git_name: str | None = None
    git_identity_overwrite: bool = False
    # git-info
    path: Path | None = None
    sdk: str = "all"
    git_timeout: float = 60.0  # git-info's own --timeout (a total deadline; the others default to 10)
    job: Path | None = None
    checkout: Path | None = None
    # doctor
    auth_test: bool = False
    # day two: the persistent agent (setup --keep-unlocked, unlock --lifetime)
    keep_unlocked: bool = False
    signing: bool = False  # sign commits with the key (docs/signing.md)
    signing_overwrite: bool = False
    lifetime: int | None = None  # seconds a key added by `onboard unlock` stays in the agent
    # keys upload / setup --upload
    upload: tuple[str, ...] = ()
    github_api: str = "https://api.github.com"
    gitlab_url: str = "https://gitlab.com"
    token_file: Path | None = None
    token_keyvault: tuple[str, ...] = ()  # PROVIDER=REF, one per provider
    keyvault_client_id: str | None = None  # a user-assigned managed identity
    keyvault_timeout: float = 20.0
    token_files: tuple[str, ...] = ()  # --token-file PROVIDER=FILE, one per provider
    bitbucket_api: str = "https://api.bitbucket.org/2.0"
    bitbucket_email: str | None = None  # Atlassian account email: the API token's Basic-auth user
    # keys list / rotate / prune
    older_than: int | None = None
    dry_run: bool = False
    confirm_delete: bool = False
    skip: tuple[str, ...] = ()  # providers rotate may leave the old key on (no API or no token)
    # rollout (docs/rollout.md): a team's compute instances from a roster, nothing applied
    roster: Path | None = None
    script: Path | None = None
    startup_script: Path | None = None
    size: str = "Standard_DS3_v2"  # the compute instance YAML's own default size
    out: Path | None = None
    team_file: Path | None = None
    wheelhouse: Path | None = None
    script_args: tuple[str, ...] = ()
    startup_args: tuple[str, ...] = ()
    timeout_minutes: int = 15  # Azure ML's default setup-script timeout
    enable_root_access: bool = False
    # pinned providers from the team file's [providers.*] tables (raw, validated later)
    team_providers: Mapping[str, Any] = MappingProxyType({})
    # input files root read for the user side of --user (privilege.py), by absolute path
    inputs: Mapping[str, bytes] = MappingProxyType({})
    # bad values kept for setup's pre-check, which reports them with every other problem (validate)
    problems: tuple[str, ...] = ()
    # where each option that was given came from ("--bits", "ONBOARD_BITS", "team.toml: [setup] bits"):
    # messages name it, and the wizard asks only what nobody answered
    origins: Mapping[str, str] = MappingProxyType({})


# Options a team file may not set: they are per-invocation or would be a secret channel.
# A team file never holds a passphrase or a reference to one: one team-wide passphrase defeats its purpose.
# Deleting keys (confirm_delete) is a decision of the person running it.
_NOT_IN_FILE = {"config", "json", "passphrase_stdin", "passphrase_file", "passphrase_env", "passphrase_keyvault",
                "path", "team_providers", "user", "inputs", "confirm_delete", "problems", "origins",
                # rollout is an admin's one-off run over a roster, not a member's team setting
                "roster", "script", "startup_script", "size", "out", "team_file", "wheelhouse", "script_args",
                "startup_args", "timeout_minutes", "enable_root_access"}
# Options that are not read from ONBOARD_*: ONBOARD_CONFIG is allowed, the rest are not.
_NOT_IN_ENV = {"passphrase_stdin", "team_providers", "path", "inputs", "problems", "origins"}
_LIST_OPTIONS = {"providers", "repos", "upload", "token_keyvault", "token_files", "skip", "script_args",
                 "startup_args"}


def _field_types() -> dict[str, str]:
    # NamedTuple wraps the (postponed, string) annotations in ForwardRef: take the text back out.
    return {name: getattr(kind, "__forward_arg__", str(kind)) for name, kind in Settings.__annotations__.items()}


def _convert(name: str, value: Any, origin: str) -> Any:
    """Turn a value from the environment (str) or the TOML file into the field's type."""
    kind = _field_types()[name]
    try:
        if name in _LIST_OPTIONS:
            if isinstance(value, str):
                value = value.replace(",", " ").split()
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("expected a list of strings")
            return tuple(value)
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError("expected true or false")
        if kind.startswith("int"):
            if isinstance(value, (bool, float, list)):
                raise ValueError("expected a whole number")
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, (bool, list)):
                raise ValueError("expected a number")
            return float(value)
        if kind.startswith("Path"):
            if not isinstance(value, str) or not value:
                raise ValueError("expected a path")
            return Path(value).expanduser()
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    except (ValueError, TypeError, OverflowError) as exc:
        raise UsageError(f"{origin}: {exc} (got {value!r})") from None


def env_name(name: str) -> str:
    return "ONBOARD_" + name.upper()


SYSTEM_TEAM_FILE = Path("/etc/onboard/team.toml")
Files = Mapping[str, bytes]  # inputs root read for the user side (privilege.py), by absolute path


def read_input(path: Path, files: Files | None, what: str) -> bytes:
    """An input file's bytes: as root pre-read it for the user side, else read now."""
    key = os.path.abspath(path)
    if files is not None and key in files:
        return files[key]
    try:
        with open(path, "rb") as fh:
            return fh.read(1 << 20)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None


def read_team_file(path: Path, files: Files | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ([setup] options, [providers.*] tables) of a team file; unknown keys fail (all of
    them named at once)."""
    options, providers, found = team_file_entries(path, files)
    if found:
        raise as_one(found)
    return options, providers


def team_file_entries(path: Path, files: Files | None = None) -> tuple[dict[str, Any], dict[str, Any],
                                                                      list[UsageError]]:
    """([setup] options, [providers.*] tables, every problem) of a team file. A file that is not
    TOML at all raises: nothing else can be said of it."""
    # Imported here: git-info and --version never read TOML and should not pay for it.
    from onboarding import tomlfile

    key = os.path.abspath(path)
    data = tomlfile.load(path, "config file", files.get(key) if files is not None else None)
    found = [UsageError(f"{path}: unknown table or key {name!r}",
                        hint="a team file has a [setup] table and [providers.NAME] tables")
             for name in sorted(set(data) - {"setup", "providers"})]
    setup = data.get("setup", {})
    providers = data.get("providers", {})
    if not isinstance(setup, dict) or not isinstance(providers, dict):
        return {}, {}, [*found, UsageError(f"{path}: [setup] and [providers] must be tables")]
    allowed = set(Settings._fields) - _NOT_IN_FILE
    options: dict[str, Any] = {}
    for key, value in setup.items():
        name = key.replace("-", "_")
        name = {"repo": "repos", "provider": "providers"}.get(name, name)
        if name not in allowed:
            found.append(UsageError(f"{path}: unknown key {key!r} in [setup]",
                                    hint="keys are the long options of `onboard setup`, dashes as underscores"))
            continue
        try:
            options[name] = _convert(name, value, f"{path}: [setup] {key}")
        except UsageError as exc:
            found.append(exc)
    return options, providers, found


def system_team_file(environ: Mapping[str, str]) -> Path:
    # ONBOARD_SYSTEM_CONFIG moves it (tests; a distribution's own layout); the file must still be root's.
    return Path(environ.get("ONBOARD_SYSTEM_CONFIG") or SYSTEM_TEAM_FILE)


def config_path(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Path | None:
    config = flags.get("config")
    if config is None and environ.get("ONBOARD_CONFIG"):
        config = Path(environ["ONBOARD_CONFIG"]).expanduser()
    return Path(config) if config is not None else None


def _team_values(flags: Mapping[str, Any], env: Mapping[str, str], files: Files | None,
                 skip_unread: bool) -> dict[str, Any]:
    """The system team file, then --config over it: lists replaced, [providers.*] merged."""
    values: dict[str, Any] = {}
    providers: dict[str, Any] = {}
    origins: dict[str, str] = {}
    system = system_team_file(env)
    config = config_path(flags, env)
    for path in (system, config):
        if path is None or (path is system and not os.path.lexists(path)):
            continue
        if path is system:
            from onboarding.rootsafe import refuse_unsafe_system_file

            refuse_unsafe_system_file(path)
        elif skip_unread and (files is None or os.path.abspath(path) not in files):
            continue  # root does not read a file the user controls: the user side will
        options, tables = read_team_file(path, files)
        values.update(options)
        origins.update({name: f"{path}: [setup] {name}" for name in options})
        for name, table in tables.items():
            if name in providers:
                raise UsageError(f"{path}: [providers.{name}] is defined in {system} too",
                                 hint="define each provider in one file")
            providers[name] = table
    if providers:
        values["team_providers"] = providers
    if config is not None:
        values["config"] = config
    values["origins"] = origins
    return values


def build(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None, *, files: Files | None = None,
          skip_unread: bool = False, team_files: bool = True, defer: bool = False) -> Settings:
    """Merge flags (only those given) over ONBOARD_* over the team files over defaults."""
    env = os.environ if environ is None else environ
    names = list(Settings._fields)
    values = _team_values(flags, env, files, skip_unread) if team_files else {}
    origins: dict[str, str] = values.pop("origins", {})
    for name in names:
        if name in _NOT_IN_ENV or name == "config":
            continue
        raw = env.get(env_name(name))
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, f"environment {env_name(name)}")
            origins[name] = env_name(name)
    for name, value in flags.items():
        if value is not None:
            values[name] = tuple(value) if name in _LIST_OPTIONS else value
            origins[name] = "--" + name.replace("_", "-")
    if files:
        values["inputs"] = MappingProxyType(dict(files))
    values["origins"] = MappingProxyType(origins)
    if values.get("json"):
        values["non_interactive"] = True  # one JSON document on stdout leaves no room for prompts
    return validate(Settings(**values), defer=defer)


def problems(s: Settings) -> list[UsageError]:
    """Every bad field value, not just the first: a script's author fixes them in one go."""
    found: list[UsageError] = []

    def bad(message: str, hint: str | None = None) -> None:
        found.append(UsageError(message, hint=hint))

    def o(name: str) -> str:  # the flag, variable or team-file key the value came from
        return s.origins.get(name, "--" + name.replace("_", "-"))

    if s.key_type not in KEY_TYPES:
        bad(f"{o('key_type')} must be one of {', '.join(KEY_TYPES)}, not {s.key_type!r}")
    if s.key_type == "rsa" and not 3072 <= s.bits <= 16384:
        bad(f"{o('bits')} {s.bits}: RSA keys must have 3072 to 16384 bits",
            "4096 (the default) is what Azure DevOps and every provider accept")
    if not 1 <= s.kdf_rounds <= 1000:
        bad(f"{o('kdf_rounds')} {s.kdf_rounds}: choose 1 to 1000 (OpenSSH uses 24)")
    if s.target not in TARGETS:
        bad(f"{o('target')} must be local or cloudfiles, not {s.target!r}")
    if s.sdk not in SDKS:
        bad(f"{o('sdk')} must be one of {', '.join(SDKS)}, not {s.sdk!r}")
    if s.ssh_over_443 not in SSH_OVER_443:
        bad(f"{o('ssh_over_443')} must be one of {', '.join(SSH_OVER_443)}, not {s.ssh_over_443!r}")
    if not 0 < s.timeout <= 600:
        bad(f"{o('timeout')} {s.timeout}: choose more than 0 and at most 600 seconds")
    if s.depth is not None and s.depth < 1:
        bad(f"{o('depth')} {s.depth}: must be at least 1")
    if s.lifetime is not None and s.lifetime < 1:
        bad(f"{o('lifetime')} {s.lifetime}: must be at least 1 second (leave it out for no limit)")
    if not 0 < s.keyvault_timeout <= 600:
        bad(f"{o('keyvault_timeout')} {s.keyvault_timeout}: choose more than 0 and at most 600 seconds")
    for check in _value_checks(s):
        try:
            check()
        except UsageError as exc:
            found.append(exc)
    return found


def _value_checks(s: Settings) -> list[Callable[[], object]]:
    """The checks that live in their own modules (they raise UsageError)."""
    checks: list[Callable[[], object]] = []
    if s.passphrase_keyvault is not None or s.token_keyvault:
        from onboarding import keyvault

        if s.passphrase_keyvault is not None:
            checks.append(lambda: keyvault.parse_ref(s.passphrase_keyvault or ""))
        for item in s.token_keyvault:
            checks.append(lambda item=item: _token_ref(item))  # type: ignore[misc]
    if s.email is not None:
        from onboarding.keys import check_comment

        checks.append(lambda: check_comment(s.email or ""))
    from onboarding.textcheck import check_path_text  # a newline in a path would reach ssh's config

    for name in _PATH_OPTIONS:
        value = getattr(s, name)
        if value is not None:
            checks.append(lambda v=value, n=name: check_path_text(v, s.origins.get(n, "--" + n.replace("_", "-"))))  # type: ignore[misc]
    return checks


_PATH_OPTIONS = ("key_file", "known_hosts", "providers_file", "passphrase_file", "token_file", "dest", "local_root",
                 "cloudfiles_root", "config",
                 # rollout: a roster's name lands in a YAML comment line, a script's in the files
                 "roster", "script", "startup_script", "out", "team_file", "wheelhouse")


def _token_ref(item: str) -> None:
    from onboarding import keyvault

    provider, sep, ref = item.partition("=")
    if not sep or not provider:
        raise UsageError(f"--token-keyvault {item!r}: expected PROVIDER=VAULT/NAME")
    keyvault.parse_ref(ref)


def as_one(errors: list[UsageError]) -> UsageError:
    """One error naming every problem (a lone one keeps its own message and hint)."""
    if len(errors) == 1:
        return errors[0]
    lines = [e.message + (f" ({e.hint})" if e.hint else "") for e in errors]
    return UsageError(f"{len(lines)} problems:\n  - " + "\n  - ".join(lines), hint="fix them all, then run again")


def validate(s: Settings, *, defer: bool = False) -> Settings:
    """Raise one error naming every bad value; with `defer` (setup's pre-check reports them
    together with its own) keep them in `s.problems` instead."""
    found = problems(s)
    if not found:
        return s
    if defer:
        return s._replace(problems=tuple(e.message + (f" ({e.hint})" if e.hint else "") for e in found))
    raise as_one(found)
