"""The upload stage and what `keys` shares with it: which providers, their API clients (each with
its own token, from Secrets or its own file), and the title that marks onboard's keys."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence

from onboarding import api
from onboarding import upload as up
from onboarding.api import tokens
from onboarding.errors import UsageError
from onboarding.instance import detect_compute_instance
from onboarding.pipeline.context import Run


def title(r: Run, *, rotated: bool = False) -> str:
    """Tells keys apart in the provider's list: onboard: user@host (instance) date; a rotation's key
    also carries the time, so two rotations on one day give two titles."""
    ci = detect_compute_instance(r.target.home)
    where = f" ({ci.name})" if ci else ""
    when = time.strftime("%Y-%m-%d" + (" rotated %H:%M:%S" if rotated else ""))
    return f"{api.TITLE_PREFIX} {r.target.name}@{socket.gethostname()}{where} {when}"


def _overrides(r: Run) -> dict[str, str]:
    s = r.settings
    return {"github": s.github_api, "gitlab": s.gitlab_url, "bitbucket": s.bitbucket_api}


def _environ(r: Run) -> Mapping[str, str]:
    """The token variables this run holds (Secrets), never os.environ directly."""
    return r.secrets.variables


def _files(r: Run, names: Sequence[str]) -> dict[str, object]:
    return dict(tokens.token_paths(r.settings.token_file, r.settings.token_files, names))


def names_for(r: Run, given: Sequence[str]) -> list[str]:
    """The providers named, or those with an API and a token; unknown names are exit 2."""
    catalogue = r.catalogue
    for name in given:
        if name not in catalogue:
            raise UsageError(f"unknown provider {name!r}", hint=f"known: {', '.join(catalogue)}")
    if given:
        return list(dict.fromkeys(given))
    files = tokens.token_paths(None, r.settings.token_files, [])
    found = [n for n, p in catalogue.items()
             if p.api and (n in r.secrets.tokens or tokens.has_token(n, files, _environ(r)))]
    if not found:
        raise UsageError("no provider has a token", hint="set GH_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN or "
                         "ONBOARD_<PROVIDER>_TOKEN, or pass --token-file PROVIDER=FILE")
    return found


def token(r: Run, provider: str, names: Sequence[str] = ()) -> str:
    """The provider's token: Key Vault's (Secrets), else its own file, else its variables."""
    if provider in r.secrets.tokens:
        return r.secrets.tokens[provider]
    files = tokens.token_paths(r.settings.token_file, r.settings.token_files, names or [provider])
    return tokens.read_token(provider, files, _environ(r), r.settings.inputs)


def clients(r: Run, names: Sequence[str]) -> list[api.KeyClient]:
    """One API client a provider, each with its own token (all read before any request is sent)."""
    catalogue = r.catalogue
    for n in names:
        if not catalogue[n].api:
            raise UsageError(f"{n} has no API for SSH keys", hint="paste the key by hand (onboard keygen shows where)")
    endpoints = [api.endpoint(n, catalogue[n].api, catalogue[n].api_url, _overrides(r)) for n in names]
    email = r.settings.bitbucket_email or r.secrets.variables.get("BITBUCKET_EMAIL")
    return [api.client(ep, token(r, ep.provider, names), timeout=r.settings.timeout, email=email)
            for ep in endpoints]


def upload_all(r: Run, public_line: str, names: Sequence[str]) -> list[up.UploadResult]:
    """--signing (keys upload, setup): each key is registered for signing too, where the API can."""
    names = names_for(r, names)
    signing = r.settings.signing
    results = []
    for c, name in zip(clients(r, names), names, strict=True):
        r.console.step(f"Registering the key with {name}")
        status, key = api.upload(c, public_line, title(r), signing=signing)
        said = "already registered" if status == "already-registered" else f"added as '{key.title}'"
        r.console.ok(f"{name}: {said}")
        signed = api.register_signing(c, public_line, title(r), (status, key)) if signing else None
        if signed:
            _say_signing(r, name, signed)
        results.append(up.UploadResult(name, status, key.title, signed))
    return results


# Where the provider's documentation says signing keys are added by hand (no API registers them).
NO_SIGNING_API = {
    "bitbucket": "Bitbucket Cloud's REST API has no signing keys (support.atlassian.com/bitbucket-cloud/docs/"
                 "use-ssh-keys-to-sign-commits)",
    "gitea": "Gitea and Forgejo verify signatures with a key verified on the web page only, by signing a token "
             "with `ssh-keygen -Y sign -n gitea` (docs.gitea.com/administration/signing)",
}


def _say_signing(r: Run, name: str, status: api.SigningStatus) -> None:
    where = r.catalogue[name].add_key_url or f"{name}'s SSH keys settings page"
    if status == "added":
        r.console.ok(f"{name}: registered as a signing key too")
    elif status == "already-registered":
        r.console.ok(f"{name}: already registered as a signing key")
    elif status == "auth-only":
        r.console.warn(f"{name}: the key is registered for authentication only (usage type auth), and "
                       f"{name} cannot change a key's usage type: it does not verify your signatures; "
                       f"delete the key at {where} and run `onboard keys upload {name} --signing` again")
    else:
        api_kind = r.catalogue[name].api or ""
        source = NO_SIGNING_API.get(api_kind, f"{name} has no signing-key API")
        r.console.info(f"{name}: no API registers signing keys: {source}; add it by hand at {where}")
