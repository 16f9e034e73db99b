"""The passphrase and the API tokens: read once from their source, held in one object.

Nobody else reads a passphrase source or a token variable. `Secrets` is built once per
run (on the root side of `--user`, from what root may read, then handed to the user side
over a socket only that process holds, privilege.py) and passed explicitly to whoever
needs a value. The process that holds a secret makes itself non-dumpable
(proc.non_dumpable): no core file, no ptrace by the same uid.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence

from onboarding.errors import UsageError
from onboarding.settings import Settings

# The names of the flags that answer the passphrase question, not a secret.
PASSPHRASE_FLAGS = ("--passphrase-file FILE, --passphrase-stdin, --passphrase-env VAR, ONBOARD_PASSPHRASE, "  # noqa: S105
                    "--passphrase-keyvault VAULT/NAME, or --no-passphrase")
PASSPHRASE_VARIABLE = "ONBOARD_PASSPHRASE"  # noqa: S105 - the variable's name


def _strip(data: bytes) -> bytes:
    # One trailing newline is the file's, not the passphrase's (echo pw > file).
    data = data[:-1] if data.endswith(b"\n") else data
    return data[:-1] if data.endswith(b"\r") else data


def passphrase_source(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """Which source answers the passphrase question ('file', 'stdin', 'env:VAR'), checked for conflicts."""
    sources = [name for name, given in (
        ("--passphrase-file", settings.passphrase_file is not None),
        ("--passphrase-stdin", settings.passphrase_stdin),
        ("--passphrase-env", settings.passphrase_env is not None),
        ("--passphrase-keyvault", settings.passphrase_keyvault is not None),
    ) if given]
    if len(sources) > 1:
        raise UsageError(f"choose one passphrase source, not {' and '.join(sources)}")
    if sources and settings.no_passphrase:
        raise UsageError(f"--no-passphrase contradicts {sources[0]}")
    if settings.passphrase_file is not None:
        return "file"
    if settings.passphrase_stdin:
        return "stdin"
    if settings.passphrase_env is not None:
        return f"env:{settings.passphrase_env}"
    if settings.passphrase_keyvault is not None:
        return "keyvault"
    if not settings.no_passphrase and PASSPHRASE_VARIABLE in environ:
        return f"env:{PASSPHRASE_VARIABLE}"
    return None


class Secrets:
    """What this run holds: the passphrase (None: no source given) and the secret variables."""

    def __init__(self, passphrase: bytes | None = None, variables: Mapping[str, str] | None = None,
                 tokens: Mapping[str, str] | None = None) -> None:
        if passphrase is not None and not passphrase:
            raise UsageError("the passphrase given is empty", hint="pass --no-passphrase for a key without one")
        self.passphrase = passphrase
        self.variables = dict(variables or {})
        self.tokens = dict(tokens or {})  # per provider, from Key Vault
        self.warnings: list[str] = []  # about the sources (never a value): the command layer prints them
        self.problems: list[str] = []  # a passphrase source that failed, for setup's pre-check (load's defer)
        if passphrase is not None or self.variables or self.tokens:
            from onboarding import proc

            proc.non_dumpable()

    def __repr__(self) -> str:  # never the values, whatever prints us
        return (f"Secrets(passphrase={'<set>' if self.passphrase else None}, variables={sorted(self.variables)}, "
                f"tokens={sorted(self.tokens)})")

    def token_from(self, names: tuple[str, ...], provider: str | None = None) -> str | None:
        if provider is not None and provider in self.tokens:
            return self.tokens[provider]
        return next((self.variables[n].strip() for n in names if self.variables.get(n, "").strip()), None)

    def has_variable(self, name: str) -> bool:
        return bool(self.variables.get(name, "").strip())


def secret_variables(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's variables that hold secrets (tokens, ONBOARD_PASSPHRASE, --passphrase-env's)."""
    from onboarding import proc

    if settings.passphrase_env:
        proc.SECRET_VARIABLES.add(settings.passphrase_env)
    return {k: v for k, v in environ.items() if proc.is_secret_name(k)}


def load(settings: Settings, environ: Mapping[str, str], *, stdin: Callable[[], bytes],
         files: Mapping[str, bytes] | None = None, fallback: bool = True,
         preset: bytes | None = None, preset_tokens: Mapping[str, str] | None = None,
         defer: bool = False, preset_problems: Sequence[str] = ()) -> tuple[Secrets, bool]:
    """Read every secret once. `files`: inputs pre-read by root; without `fallback` (the root
    side) a file not among them is left for the user side: then `deferred` is True. With
    `defer` (setup's pre-check reports every problem at once) a passphrase source that fails
    is kept in `problems` instead of raised."""
    variables = secret_variables(settings, environ)
    problems = list(preset_problems)
    try:
        data, deferred, warnings = _passphrase(settings, environ, stdin, files, fallback=fallback, preset=preset)
    except UsageError as exc:
        if not defer:
            raise
        data, deferred, warnings = None, False, []
        text = exc.message + (f" ({exc.hint})" if exc.hint else "")
        if text not in problems:  # the user side of --user meets root's problem again
            problems.append(text)
    tokens = {}
    for item in settings.token_keyvault if preset_tokens is None else ():
        provider, _, ref = item.partition("=")
        tokens[provider] = _from_keyvault(settings, ref).decode(errors="replace").strip()
    held = Secrets(data, variables, tokens if preset_tokens is None else preset_tokens)
    held.warnings = warnings
    held.problems = problems
    return held, deferred


def _passphrase(settings: Settings, environ: Mapping[str, str], stdin: Callable[[], bytes],
                files: Mapping[str, bytes] | None, *, fallback: bool,
                preset: bytes | None) -> tuple[bytes | None, bool, list[str]]:
    """(the passphrase, deferred to the user side?, warnings about its source)."""
    from onboarding.settings import read_input

    source = passphrase_source(settings, environ)
    data: bytes | None = preset
    deferred = False
    path = settings.passphrase_file
    if data is not None or source is None:
        pass
    elif source == "file" and path is not None:
        if fallback or (files is not None and os.path.abspath(path) in files):
            if files is None or os.path.abspath(path) not in files:  # root pre-read only root-safe files
                _refuse_writable(path)
            data = _strip(read_input(path.expanduser(), files, "--passphrase-file"))
        else:
            deferred = True
    elif source == "stdin":
        data = _strip(stdin())
    elif source.startswith("env:"):
        name = source[4:]
        if name not in environ:
            raise UsageError(f"--passphrase-env {name}: that variable is not set")
        data = _strip(environ[name].encode())
    elif source == "keyvault" and settings.passphrase_keyvault is not None:
        data = _strip(_from_keyvault(settings, settings.passphrase_keyvault))
    if data is not None and not data:
        raise UsageError("the passphrase given is empty", hint="pass --no-passphrase for a key without one")
    warnings = _file_warnings(path) if source == "file" and path is not None and data is not None else []
    return data, deferred, warnings


def _refuse_writable(path: os.PathLike[str]) -> None:
    """A passphrase file others can write is a passphrase others chose: exit 2, on both sides of
    --user (root reads only files nobody else can change; the user side checks the rest here)."""
    import stat

    try:
        mode = stat.S_IMODE(os.stat(os.path.expanduser(path)).st_mode)
    except OSError:
        return  # read_input says why it cannot be read
    if mode & 0o022:
        raise UsageError(f"--passphrase-file {path} can be written by others (mode {mode:04o}): refusing a "
                         "passphrase someone else could have chosen", hint=f"chmod 600 {path}")


def _file_warnings(path: os.PathLike[str]) -> list[str]:
    """A passphrase file others can read is a passphrase others know (as ssh says of a key)."""
    import stat

    try:
        mode = stat.S_IMODE(os.stat(os.path.expanduser(path)).st_mode)
    except OSError:
        return []
    if mode & 0o077:
        return [f"--passphrase-file {path} is readable by others (mode {mode:04o}): chmod 600 {path}"]
    return []


def _from_keyvault(settings: Settings, ref: str) -> bytes:
    from onboarding import keyvault

    return keyvault.fetch(keyvault.parse_ref(ref), timeout=settings.keyvault_timeout,
                          client_id=settings.keyvault_client_id)


def from_handoff(passphrase: bytes | None, variables: Mapping[str, str]) -> Secrets:
    return Secrets(passphrase, variables)


def stdin_reader() -> Callable[[], bytes]:
    """Standard input can be read once: the first call reads it, later calls get the same bytes."""
    cache: list[bytes] = []

    def read() -> bytes:
        if not cache:
            cache.append(sys.stdin.buffer.read(1 << 16))
        return cache[0]

    return read


def environ() -> Mapping[str, str]:
    return os.environ
