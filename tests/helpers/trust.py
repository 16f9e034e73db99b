"""Judge a known_hosts file by real OpenSSH: `ssh-keygen -F` and a real strict `ssh`."""

from __future__ import annotations

import subprocess
from pathlib import Path


def fresh_key(kind: str = "ed25519") -> str:
    """'type base64' of a new key nobody pinned (an attacker's host key)."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()


def lines_for(known_hosts: Path, host: str) -> list[str]:
    """The lines real ssh-keygen finds for `host` (patterns, hashes and markers resolved by OpenSSH)."""
    proc = subprocess.run(["ssh-keygen", "-F", host, "-f", str(known_hosts)], capture_output=True, text=True,
                          timeout=30, check=False, stdin=subprocess.DEVNULL)
    return [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")]


def plain_keys_for(known_hosts: Path, host: str) -> set[str]:
    """'type base64' of every unmarked line ssh would trust for `host`."""
    return {" ".join(ln.split()[1:3]) for ln in lines_for(known_hosts, host) if not ln.startswith("@")}


def ssh_reaches_auth(port: int, user: str, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    """Real ssh with strict host key checking to 127.0.0.1:port; it offers no key at all."""
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null", "-o", "ConnectTimeout=10",
         "-p", str(port), f"{user}@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )
