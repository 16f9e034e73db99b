"""The signing stage of setup and keygen (--signing): git signs commits with the key (docs/signing.md)."""

from __future__ import annotations

from onboarding import agent, keys, signing
from onboarding.pipeline.context import Run


def ensure_signing(r: Run, key: keys.KeyResult) -> signing.SigningResult:
    console = r.console
    email = signing.email_for(r.settings.email)
    result = signing.configure(r.target.home, key.path, key.public_line, email,
                               agent.persistent_socket(r.target.home), overwrite=r.settings.signing_overwrite)
    for name, have, want in result.kept:
        if r.settings.signing_overwrite:
            console.info(f"git {name} was {have!r}: replaced with {want!r} (--signing-overwrite)")
        else:
            console.warn(f"git {name} is {have!r}; kept (onboard would set {want!r})")
    if result.kept and not r.settings.signing_overwrite:
        console.warn("commit signing was not set up: git already signs another way; "
                     "pass --signing-overwrite to make it sign with this key")
    elif result.written or result.signer_added:
        console.ok(f"git signs your commits with {key.path} (allowed signers: {result.allowed_signers})")
    else:
        console.ok(f"git already signs your commits with {key.path}")
    return result
