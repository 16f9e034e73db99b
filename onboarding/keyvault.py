"""Read one secret from Azure Key Vault with the compute instance's managed identity.

A reference is `VAULT/NAME[/VERSION]` (the vault `https://VAULT.vault.azure.net`) or a full
`https://HOST[:PORT]/secrets/NAME[/VERSION]` URL. The Azure libraries (the optional extra
`onboarding[azure]`) are imported only here and only when a reference is used, so `onboard`
starts without them.

What never happens to the secret or the identity's token: printed, logged (azure's and
msal's loggers are silenced for the process), put in argv or a child's environment (no
child is started), or written into an exception message (messages name the reference only).
Nothing of the identity outlives a read: the credential and the client (with the access
token in its policy and msal's cache) are made for one fetch, closed, and never kept, so
root's side of `--user` holds no Key Vault token while the command runs.

The Azure libraries retry on their own (backoff, several attempts per request, for the token
and for the vault): the whole fetch runs in a worker thread under ONE total deadline, and the
clients' retries are reduced as well so that the usual failure is seen well within it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from onboarding.errors import NetworkError, OnboardError, UsageError

EXTRA_HINT = "pip install 'onboarding[azure]'"
ROLE = "Key Vault Secrets User"
_VAULT_NAME = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9])+\Z")  # 3-24: letters, digits, single hyphens
_SECRET_NAME = re.compile(r"[A-Za-z0-9-]{1,127}\Z")
_VERSION = re.compile(r"[A-Za-z0-9]{1,64}\Z")
_QUIET_LOGGERS = ("azure", "msal")
_FORMS = "VAULT/NAME[/VERSION] or https://HOST[:PORT]/secrets/NAME[/VERSION]"


@dataclass(frozen=True)
class SecretRef:
    """Where one secret lives: the vault's URL, the secret's name, and optionally a version."""

    vault_url: str  # https://HOST[:PORT], no trailing slash
    name: str
    version: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.version}" if self.version else ""
        return f"{self.vault_url}/secrets/{self.name}{tail}"


def parse_ref(text: str) -> SecretRef:
    """`VAULT/NAME[/VERSION]` or `https://HOST[:PORT]/secrets/NAME[/VERSION]`; anything else is exit 2."""
    text = text.strip()
    if "://" in text:
        return _parse_url(text)
    parts = text.split("/")
    if len(parts) not in (2, 3) or not (3 <= len(parts[0]) <= 24 and _VAULT_NAME.match(parts[0])):
        raise UsageError(f"not a Key Vault secret reference: {text!r}", hint=f"use {_FORMS}")
    return _ref(f"https://{parts[0].lower()}.vault.azure.net", parts[1:], text)


def _parse_url(text: str) -> SecretRef:
    url = urlsplit(text)
    if url.scheme != "https":
        # azure-core never sends a bearer token over plain http; say so instead of failing later.
        raise UsageError(f"a Key Vault URL must be https: {text!r}", hint=f"use {_FORMS}")
    try:
        port = url.port
    except ValueError:
        port = None
        bad_port = True
    else:
        bad_port = False
    if not url.hostname or url.username or url.password or url.query or url.fragment or bad_port:
        raise UsageError(f"not a Key Vault secret URL: {text!r}", hint=f"use {_FORMS}")
    parts = url.path.strip("/").split("/")
    if parts[0] != "secrets":
        raise UsageError(f"not a Key Vault secret URL (no /secrets/NAME): {text!r}", hint=f"use {_FORMS}")
    host = url.hostname if ":" not in url.hostname else f"[{url.hostname}]"
    return _ref(f"https://{host}{f':{port}' if port else ''}", parts[1:], text)


def _ref(vault_url: str, parts: list[str], text: str) -> SecretRef:
    if len(parts) not in (1, 2) or not _SECRET_NAME.match(parts[0]):
        raise UsageError(f"not a Key Vault secret name in {text!r}: letters, digits and '-', 1 to 127",
                         hint=f"use {_FORMS}")
    version = parts[1] if len(parts) == 2 else None
    if version is not None and not _VERSION.match(version):
        raise UsageError(f"not a Key Vault secret version in {text!r}", hint=f"use {_FORMS}")
    return SecretRef(vault_url=vault_url, name=parts[0], version=version)


def fetch(ref: SecretRef, *, timeout: float, client_id: str | None = None) -> bytes:
    """The secret's value (UTF-8), read with the managed identity; `client_id` picks a user-assigned one.

    Exit 2: the extra is missing, no identity here, no access (403), no such secret (404),
    a vault whose challenge does not match its host. Exit 4: slow or unreachable, within `timeout`.
    """
    _require_identity()
    modules = _import_azure()
    _silence_loggers()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = _get(modules, ref, timeout=timeout, client_id=client_id)
        except BaseException as exc:  # handed to the caller's thread, mapped there
            box["error"] = exc

    # daemon: a thread stuck in a retry cannot keep the process alive after the deadline.
    worker = threading.Thread(target=work, name="onboard-keyvault", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise NetworkError(f"Key Vault did not answer within {timeout:g}s for {ref}",
                           hint="check the instance's network (proxy, firewall, private endpoint), or retry")
    if "error" in box:
        raise _map_error(box["error"], ref, modules) from None
    value: bytes = box["value"]
    return value


def _require_identity() -> None:
    # ManagedIdentityCredential would otherwise fall back to IMDS and fail slowly and vaguely.
    if not (os.environ.get("MSI_ENDPOINT") and os.environ.get("MSI_SECRET")):
        raise UsageError(
            "no managed identity here: MSI_ENDPOINT and MSI_SECRET are not set",
            hint="assign an identity to the compute instance (studio: Identity; YAML: identity:), or the "
                 "variables are absent where this runs (e.g. a setup script's environment): "
                 "pass the secret another way")


def _import_azure() -> dict[str, Any]:
    try:
        from azure.core import exceptions
        from azure.identity import ManagedIdentityCredential
        from azure.keyvault.secrets import SecretClient
    except ImportError:
        raise UsageError("reading secrets from Key Vault needs the Azure libraries, which are not installed",
                         hint=f"install them: {EXTRA_HINT}") from None
    return {"credential": ManagedIdentityCredential, "client": SecretClient, "exceptions": exceptions}


def _silence_loggers() -> None:
    # Their DEBUG output includes request and response details; nothing of theirs is ours to show.
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False


def _get(modules: dict[str, Any], ref: SecretRef, *, timeout: float, client_id: str | None) -> bytes:
    # One retry, short backoff, per-request timeouts: the outer deadline stays the real limit.
    transport = {"retry_total": 1, "retry_backoff_factor": 0.2, "retry_backoff_max": 1,
                 "connection_timeout": timeout, "read_timeout": timeout}
    credential = modules["credential"](client_id=client_id, **transport)
    with credential, modules["client"](ref.vault_url, credential, **transport) as client:
        secret = client.get_secret(ref.name, ref.version)
    if secret.value is None:
        raise UsageError(f"the Key Vault secret {ref} has no value")
    return str(secret.value).encode()


def _map_error(exc: BaseException, ref: SecretRef, modules: dict[str, Any]) -> BaseException:
    """An OnboardError naming the reference, never carrying the library's message text."""
    errors = modules["exceptions"]
    if isinstance(exc, OnboardError | KeyboardInterrupt):
        return exc
    if isinstance(exc, errors.ClientAuthenticationError) and getattr(exc, "status_code", None) is None:
        # CredentialUnavailableError and friends: the identity endpoint gave no token.
        return UsageError(f"the managed identity gave no token for Key Vault ({ref})",
                          hint="check that the compute instance has this identity (and --keyvault-client-id "
                               "for a user-assigned one)")
    status = getattr(exc, "status_code", None)
    if status == 403:
        return UsageError(f"the managed identity may not read {ref} (403 Forbidden)",
                          hint=f"grant the instance's identity the role '{ROLE}' on the vault "
                               "(or a get-secret access policy)")
    if status == 404:
        return UsageError(f"no secret '{ref.name}' in the vault {ref.vault_url} (404)",
                          hint="check the secret's name and the vault")
    if status == 401:
        return UsageError(f"Key Vault refused the identity's token for {ref} (401)",
                          hint="the vault may belong to another tenant than the identity")
    if isinstance(exc, ValueError) and "challenge" in str(exc):
        return UsageError(f"{ref.vault_url} asked for a token of another domain: not sending it",
                          hint="use the vault's own URL, https://VAULT.vault.azure.net")
    if isinstance(exc, errors.ServiceRequestError | errors.ServiceResponseError) or status is not None:
        what = f"HTTP {status}" if status is not None else type(exc).__name__
        return NetworkError(f"Key Vault or the identity endpoint failed for {ref} ({what})",
                            hint="check the instance's network, or retry")
    return exc
