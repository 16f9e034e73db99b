"""`onboard hosts verify|list`: pin provider host keys into known_hosts, or show the pins."""

from __future__ import annotations

from typing import Any

from onboarding import fsutil, sshconfig
from onboarding import providers as prov
from onboarding.console import Console, Result
from onboarding.pipeline import Run
from onboarding.pipeline.stages import ensure_trusted
from onboarding.secrets import Secrets
from onboarding.settings import Settings


def verify_cmd(settings: Settings, console: Console) -> Result:
    r = Run.start(settings, Secrets(), console)
    chosen = prov.select(r.catalogue, settings.providers or tuple(r.catalogue))
    result = ensure_trusted(r, chosen)
    block = sshconfig.read(fsutil.read_bytes(r.target.ssh_dir / "config") or b"")
    mapped = {st.name: prov.Host(st.hostname, st.port or 22).pattern for st in block if st.hostname}
    return Result({
        "known_hosts": str(r.known_hosts),
        "providers": [p.name for p in chosen],
        "offline": settings.offline,
        "added": list(result.added),
        "removed": list(result.removed),
        "neutralised": list(result.neutralised),
        "cert_authorities": list(result.cert_authorities),
        # where the managed block sends each provider (SSH over 443), null: straight to its host
        "ssh_over_443": {p.name: mapped.get(p.name) for p in chosen},
    })


def _row(p: prov.Provider) -> dict[str, Any]:
    return {
        "name": p.name,
        "title": p.title,
        "hosts": [h.pattern for h in p.hosts],
        "keys": [{"type": k.key_type, "fingerprint": k.fingerprint} for k in p.keys],
        "fingerprints": sorted(p.fingerprints),
        "revoked": sorted(p.revoked),
        "add_key_url": p.add_key_url,
        "docs_url": p.docs_url,
        "source": p.source,
    }


def list_cmd(settings: Settings, console: Console) -> Result:
    """One block per provider that fits 80 columns: its hosts, then each pinned fingerprint on a line
    of its own (a table of name, hosts, type and fingerprint side by side is 126 columns wide)."""
    catalogue = Run.start(settings, Secrets(), console).catalogue
    for i, p in enumerate(catalogue.values()):
        typed = [(k.key_type, k.fingerprint) for k in p.keys]
        typed += [("(fingerprint)", fp) for fp in sorted(p.fingerprints - {k.fingerprint for k in p.keys})]
        typed += [("REVOKED", fp) for fp in sorted(p.revoked)]
        if i:
            console.out()
        console.out(f"{p.name} ({p.title}): {', '.join(h.pattern for h in p.hosts)}")
        width = max(len(kind) for kind, _ in typed) if typed else 0
        for kind, fp in typed:
            console.out(f"    {kind.ljust(width)}  {fp}")
        console.out("    source:")
        console.out(f"      {p.docs_url or p.source}")  # a link stays whole, on a line of its own
    return Result({"providers": [_row(p) for p in catalogue.values()]})
