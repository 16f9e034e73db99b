"""A local stand-in for a compute instance's managed identity and for Azure Key Vault.

Protocols followed (as azure-identity 1.27 / msal and azure-keyvault-secrets 4.x speak them):
- identity: GET MSI_ENDPOINT?api-version=2017-09-01&resource=<scope>[&clientid=<id>] with the
  header `secret: <MSI_SECRET>` -> {"access_token", "expires_on": epoch seconds, "resource",
  "token_type"} (the compute instance's flavour of the App Service 2017 API).
- Key Vault: GET /secrets/NAME[/VERSION]?api-version=... without a token -> 401 with
  `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/TENANT",
  resource="https://vault.azure.net"`; with `Authorization: Bearer <token>` -> 200 with the
  secret bundle, 403 (identity without access) or 404 (SecretNotFound).

How the test reaches it without weakening anything in the package:
- TLS: one HTTPS server on 127.0.0.1 with a certificate from a throwaway CA made here. The
  Azure SDK sends through `requests`, which reads REQUESTS_CA_BUNDLE when verification is on
  (azure-core's default), so the test sets REQUESTS_CA_BUNDLE=<ca.pem>: no option of the
  package exists for this, and a child `onboard` process trusts it the same way.
- Vault host name: Key Vault's client refuses to send a token to a host that is not under
  the challenge's resource domain (`*.vault.azure.net`), which an address like 127.0.0.1
  never is; turning that check off (verify_challenge_resource=False) would open exactly the
  hole it closes. So the vault keeps its real name, `https://NAME.vault.azure.net`, and the
  test routes it here with HTTPS_PROXY pointing at `ConnectProxy` below, which tunnels
  CONNECTs for `*.vault.azure.net` to this server and refuses anything else (nothing leaves
  loopback). NO_PROXY=127.0.0.1 keeps the identity endpoint direct.
- The identity endpoint is served over https by the same server (on the instance it is a
  local http endpoint; the client code is the same for both).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import select
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

RESOURCE = "https://vault.azure.net"
VAULT_SUFFIX = ".vault.azure.net"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@dataclass
class Tls:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def make_tls(directory: Path, names: tuple[str, ...] = (f"*{VAULT_SUFFIX}", "localhost")) -> Tls:
    """A throwaway CA and a server certificate for `names` plus 127.0.0.1, as PEM files."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onboard test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    tls = Tls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    tls.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return tls


@dataclass
class Seen:
    """One request the fake answered (headers lower-cased)."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeAzure:
    """Identity endpoint + Key Vault. Set `secrets`, `forbidden`, `delay` before use."""

    msi_secret: str = "msi-header-secret-1f3a"
    token: str = "eyJ0eXAiOiJKV1Qi.fake-access-token-9c1d"
    secrets: dict[str, str] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    client_ids: set[str] | None = None  # user-assigned identities that exist; None: system-assigned only
    delay: float = 0.0  # seconds before answering anything: the "slow server"
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def msi_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/MSI/auth"


def _handler(fake: FakeAzure) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.seen.append(Seen("GET", headers.get("host", ""), url.path, parse_qs(url.query), headers))
            if fake.delay and fake.stop.wait(fake.delay):
                return
            if url.path == "/MSI/auth":
                self._identity(parse_qs(url.query), headers)
            elif url.path.startswith("/secrets/"):
                self._vault(url.path, headers)
            else:
                self._send(404, {"error": "no such path"})

        def _identity(self, query: dict[str, list[str]], headers: dict[str, str]) -> None:
            if headers.get("secret") != fake.msi_secret:
                self._send(401, {"error": "invalid secret header"})
            elif query.get("api-version") != ["2017-09-01"] or query.get("resource") != [RESOURCE]:
                self._send(400, {"error": "invalid_request", "error_description": f"bad query {query}"})
            elif "clientid" in query and (fake.client_ids is None or query["clientid"][0] not in fake.client_ids):
                self._send(400, {"error": "invalid_request", "error_description": "Identity not found"})
            else:
                self._send(200, {"access_token": fake.token, "expires_on": str(int(time.time()) + 3600),
                                 "resource": RESOURCE, "token_type": "Bearer"})

        def _vault(self, path: str, headers: dict[str, str]) -> None:
            if headers.get("authorization") != f"Bearer {fake.token}":
                challenge = (f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                             f'resource="{RESOURCE}"')
                self._send(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing "
                                           "a Bearer or PoP token."}}, {"WWW-Authenticate": challenge})
                return
            name = path.split("/")[2]
            host = headers.get("host", "")
            if name in fake.forbidden:
                self._send(403, {"error": {"code": "Forbidden", "message": "Caller is not authorized to perform "
                                           "action on resource.", "innererror": {"code": "ForbiddenByRbac"}}})
            elif name in fake.secrets:
                self._send(200, {"value": fake.secrets[name], "id": f"https://{host}/secrets/{name}/0123abcd",
                                 "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000}})
            else:
                self._send(404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {name} "
                                           "was not found in this key vault."}})

        def _send(self, status: int, body: object, extra: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


class ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTPS_PROXY that tunnels CONNECT host:port for *.vault.azure.net to one local port only."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.tunnels: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, ConnectProxy)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target = head.split(b" ", 2)[:2]
        host = target.decode().rsplit(":", 1)[0]
        if method != b"CONNECT" or not host.endswith(VAULT_SUFFIX):
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        server.tunnels.append(target.decode())
        with socket.create_connection(("127.0.0.1", server.target_port), timeout=30) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(self.request, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([a, b], [], [], 30)
        if not ready:
            return
        for src in ready:
            data = src.recv(65536)
            if not data:
                return
            (b if src is a else a).sendall(data)


@dataclass
class Running:
    fake: FakeAzure
    tls: Tls
    proxy_port: int

    def env(self) -> dict[str, str]:
        """What a process (this one via monkeypatch, or a child `onboard`) needs to use the fake."""
        return {
            "MSI_ENDPOINT": self.fake.msi_endpoint,
            "MSI_SECRET": self.fake.msi_secret,
            "REQUESTS_CA_BUNDLE": str(self.tls.ca_pem),
            "HTTPS_PROXY": f"http://127.0.0.1:{self.proxy_port}",
            "https_proxy": f"http://127.0.0.1:{self.proxy_port}",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }


@contextmanager
def running(directory: Path, fake: FakeAzure | None = None) -> Iterator[Running]:
    """Start the HTTPS fake and its CONNECT proxy on 127.0.0.1; stop both on exit."""
    fake = fake or FakeAzure()
    tls = make_tls(directory)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls.cert_pem), str(tls.key_pem))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    fake.port = int(httpd.server_address[1])
    proxy = ConnectProxy(fake.port)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (httpd, proxy)]
    for t in threads:
        t.start()
    try:
        yield Running(fake, tls, int(proxy.server_address[1]))
    finally:
        fake.stop.set()  # a "slow" handler returns at once
        for s in (httpd, proxy):
            s.shutdown()
            s.server_close()
