"""API tokens: one per provider, from its own environment variable or its own file.

A token is sent only to the provider it belongs to: `--token-file FILE` names one file for
one provider, and with several providers each needs `--token-file PROVIDER=FILE` (a GitHub
token must never reach GitLab's host). Tokens are never printed, logged, put in argv or in
a child's environment (proc.py's allowlist drops these variables).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from onboarding.errors import UsageError

# The names each tool's own CLI reads (gh: GH_TOKEN, GITHUB_TOKEN); every provider also has
# ONBOARD_<NAME>_TOKEN, which is how a team-file provider gets its token.
TOKEN_ENV: dict[str, tuple[str, ...]] = {
    "github": ("GH_TOKEN", "GITHUB_TOKEN"),
    "gitlab": ("GITLAB_TOKEN",),
    "bitbucket": ("BITBUCKET_TOKEN",),
}
_PAIR = re.compile(r"^([a-z0-9][a-z0-9_-]*)=(.+)$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")  # printable ASCII without spaces: nothing to inject into a header


def env_names(provider: str) -> tuple[str, ...]:
    return (*TOKEN_ENV.get(provider, ()), "ONBOARD_" + provider.upper().replace("-", "_") + "_TOKEN")


def token_paths(single: Path | None, pairs: Sequence[str], names: Sequence[str]) -> dict[str, Path]:
    """--token-file FILE (one provider only) and --token-file PROVIDER=FILE -> {provider: file}."""
    out: dict[str, Path] = {}
    for text in pairs:
        m = _PAIR.match(text)
        if not m:
            raise UsageError(f"--token-file {text!r}: expected PROVIDER=FILE")
        if m[1] in out:
            raise UsageError(f"--token-file: two files for {m[1]}")
        out[m[1]] = Path(m[2]).expanduser()
    if single is not None:
        rest = [n for n in names if n not in out]
        if len(rest) != 1:
            raise UsageError(
                f"--token-file {single} would send one token to {len(rest) or 'no'} providers"
                + (f" ({', '.join(rest)})" if rest else ""),
                hint="name the provider of each file: --token-file github=FILE --token-file gitlab=FILE",
            )
        out[rest[0]] = single.expanduser()
    return out


def read_token(provider: str, token_files: Mapping[str, Path], environ: Mapping[str, str],
               preread: Mapping[str, bytes] | None = None) -> str:
    """The provider's token: its file if one was given for it, else its environment variables.
    `preread`: files root read for the user side of --user, by absolute path."""
    path = token_files.get(provider)
    if path is not None:
        try:
            raw = (preread or {}).get(os.path.abspath(path))
            token = (raw.decode() if raw is not None else path.read_text()).strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not text"
            raise UsageError(f"cannot read the {provider} token file {path}: {reason}") from None
        origin = str(path)
    else:
        names = env_names(provider)
        found = next((n for n in names if environ.get(n, "").strip()), None)
        if found is None:
            raise UsageError(f"no token for {provider}",
                             hint=f"set {' or '.join(names)}, or pass --token-file {provider}=FILE")
        token, origin = environ[found].strip(), found
    if not _TOKEN.match(token):
        raise UsageError(f"the {provider} token from {origin} is not one token (spaces, lines or odd characters)")
    return token


def has_token(provider: str, token_files: Mapping[str, Path], environ: Mapping[str, str]) -> bool:
    return provider in token_files or any(environ.get(n, "").strip() for n in env_names(provider))
