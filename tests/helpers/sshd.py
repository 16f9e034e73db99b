"""A real OpenSSH sshd on 127.0.0.1 with its own host keys and authorized_keys."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = shutil.which("sshd") or next(
    (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.path.exists(p)), None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    """A real OpenSSH sshd on 127.0.0.1 with its own three host keys and authorized_keys."""

    root: Path
    port: int
    user: str
    host_keys: dict[str, Path] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def authorized_keys(self) -> Path:
        return self.root / "authorized_keys"

    def authorize(self, public_key_file: Path) -> None:
        self.authorized_keys.write_text(public_key_file.read_text())

    def public_key(self, kind: str) -> str:
        """'type base64' of the server's host key of that kind (ed25519, ecdsa, rsa)."""
        return " ".join(Path(str(self.host_keys[kind]) + ".pub").read_text().split()[:2])

    def url(self, repo: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.root / 'repos' / repo}"

    def providers_toml(self, name: str = "local", kinds: tuple[str, ...] = ("ed25519", "ecdsa", "rsa"),
                       extra: str = "") -> str:
        keys = ", ".join(f'"{self.public_key(k)}"' for k in kinds)
        return (f'[providers.{name}]\nhosts = ["[127.0.0.1]:{self.port}"]\n'
                f'user = "{self.user}"\nkeys = [{keys}]\n{extra}')


def start_sshd(root: Path, listen: tuple[str, ...] = ("127.0.0.1",),
               kinds: tuple[str, ...] = ("ed25519", "ecdsa", "rsa"), extra: tuple[str, ...] = ()) -> Sshd:
    assert SSHD
    user = pwd.getpwuid(os.getuid()).pw_name
    server = Sshd(root=root, port=free_port(), user=user)
    for kind in kinds:
        key = root / f"ssh_host_{kind}_key"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
        server.host_keys[kind] = key
    server.authorized_keys.write_text("")
    (root / "repos").mkdir()
    config = root / "sshd_config"
    config.write_text("\n".join([
        *extra,  # first: sshd keeps the first value it reads for each keyword
        f"Port {server.port}",
        *(f"ListenAddress {a}" for a in listen),
        *(f"HostKey {k}" for k in server.host_keys.values()),
        f"PidFile {root / 'sshd.pid'}",
        f"AuthorizedKeysFile {server.authorized_keys}",
        "StrictModes no",  # the temp dirs are not laid out as a real home would be
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {user}",
        "LogLevel ERROR",
        "MaxStartups 100",  # the benchmark probes four "providers" that are all this one sshd
        "",
    ]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    log = (root / "sshd.log").open("wb")
    server.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return server
        except OSError:
            if server.proc.poll() is not None:
                break
            time.sleep(0.05)
    server.proc.kill()
    raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text()}")


