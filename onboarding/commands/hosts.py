"""`onboard hosts verify|list`: pin provider host keys into known_hosts, or show the pins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onboarding import hostkeys, known_hosts, sshrun
from onboarding import providers as prov
from onboarding.commands import common
from onboarding.console import Console
from onboarding.instance import Target
from onboarding.settings import Settings


def ensure_trusted(settings: Settings, console: Console, tgt: Target,
                   chosen: Sequence[prov.Provider]) -> known_hosts.MergeResult:
    """Verify `chosen` (or take the pins as they are with --offline), then merge known_hosts."""
    names = ", ".join(p.name for p in chosen)
    if settings.offline:
        console.step(f"Writing pinned host keys for {names} (offline: not probing)")
    else:
        console.step(f"Checking the live host keys of {names} against the pins")
    pins, verdicts, unreachable = hostkeys.verify(chosen, offline=settings.offline, timeout=settings.timeout)
    for v in verdicts:
        console.ok(f"{v.host.pattern}: {len(v.accepted)} key(s) match the pins of {v.provider.name}")
    for err in unreachable:
        console.warn(f"{err.message}; its provider's main host verified, so its pinned keys are written for it too")
    revoked = {fp for p in chosen for fp in p.revoked}
    path = common.known_hosts_path(settings, tgt)
    asked: list[bool] = []

    def hashed() -> bool:  # only when a line is to be added: it costs an `ssh -G`
        asked.append(settings.hash if settings.hash is not None else sshrun.hashes_known_hosts(tgt))
        return asked[0]

    if not path.parent.exists():
        from onboarding import fsutil

        fsutil.ensure_private_dir(path.parent, tgt.owner())
    result = known_hosts.update(path, pins, revoked, hashed=hashed, owner=tgt.owner())
    for line in result.removed:
        console.info(f"removed from {path}: {line} (revoked or not the provider's key)")
    for line in result.neutralised:
        console.info(f"narrowed in {path}: {line}")
    for line in result.cert_authorities:
        console.warn(f"{path}: kept @cert-authority {line}: it can vouch for a pinned host's certificates")
    if result.added:
        console.ok(f"{path}: added {len(result.added)} pinned key line(s)" + (" (hashed)" if any(asked) else ""))
    elif not result.removed and not result.neutralised:
        console.ok(f"{path} already trusts exactly the pinned keys")
    return result


def verify_cmd(settings: Settings, console: Console) -> int:
    tgt = common.target(settings)
    catalogue = common.providers(settings)
    chosen = prov.select(catalogue, settings.providers or tuple(catalogue))
    result = ensure_trusted(settings, console, tgt, chosen)
    console.emit_json({
        "known_hosts": str(common.known_hosts_path(settings, tgt)),
        "providers": [p.name for p in chosen],
        "offline": settings.offline,
        "added": list(result.added),
        "removed": list(result.removed),
        "neutralised": list(result.neutralised),
        "cert_authorities": list(result.cert_authorities),
    })
    return 0


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


def list_cmd(settings: Settings, console: Console) -> int:
    catalogue = common.providers(settings)
    rows = [("PROVIDER", "HOSTS", "TYPE", "FINGERPRINT")]
    for p in catalogue.values():
        hosts = ",".join(h.pattern for h in p.hosts)
        typed = [(k.key_type, k.fingerprint) for k in p.keys]
        typed += [("(fingerprint)", fp) for fp in sorted(p.fingerprints - {k.fingerprint for k in p.keys})]
        typed += [("REVOKED", fp) for fp in sorted(p.revoked)]
        for i, (kind, fp) in enumerate(typed):
            rows.append((p.name if i == 0 else "", hosts if i == 0 else "", kind, fp))
    console.table(rows)
    console.out()
    for p in catalogue.values():
        console.out(f"{p.name}: source {p.docs_url or p.source}")
    console.emit_json({"providers": [_row(p) for p in catalogue.values()]})
    return 0
