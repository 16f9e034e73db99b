"""`onboard keygen`: create or reuse the key pair, then show where to paste it."""

from __future__ import annotations

from onboarding import providers as prov
from onboarding import signing
from onboarding.console import Console, Result
from onboarding.pipeline import Run
from onboarding.pipeline.signingstage import ensure_signing
from onboarding.pipeline.stages import ensure_key, key_json, show_public_key
from onboarding.secrets import Secrets
from onboarding.settings import Settings


def run(settings: Settings, secrets: Secrets, console: Console) -> Result:
    r = Run.start(settings, secrets, console)
    if settings.signing:
        signing.email_for(settings.email)  # a missing email is said before the key is made
    result = ensure_key(r, r.passphrase_for_key())
    signed = ensure_signing(r, result) if settings.signing else None
    chosen = prov.select(r.catalogue, settings.providers or tuple(r.catalogue))
    if not console.quiet:
        show_public_key(console, result, chosen)
    else:
        console.out(result.public_line.rstrip("\n"))
    return Result({**key_json(result), "add_key_urls": {p.name: p.add_key_url for p in chosen},
                   "signing": signed.as_json() if signed else None})
