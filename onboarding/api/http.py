"""One HTTP request to a provider's API, and nothing an untrusted server can stretch.

- https only (http:// to a loopback address literal for the tests' fake APIs): a token
  never travels in clear text, and no DNS answer decides that.
- No redirects: http.client follows none, and a 3xx is an error, so the token never
  follows one to another host.
- A total deadline per request, not per read: a watchdog shuts the socket down when it
  passes, so a server dripping one byte a second cannot keep us waiting
  (http.client's timeout applies to each read only), whatever the answer's framing
  (keep-alive, `Connection: close`, chunked).
- A size cap: a declared Content-Length above it is refused before reading the body; an
  undeclared body is read in chunks and abandoned once past it.
- Anything that is not a well-formed HTTP answer is NetworkError (exit 4) naming the provider.
Standard library only; the proxy variables a corporate network needs are honoured.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from onboarding.errors import NetworkError, UsageError

MAX_BYTES = 4 * 1024 * 1024  # a page of 100 keys is ~100 KB; no key API answer comes near this
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


def is_loopback(host: str) -> bool:
    try:  # an address literal only: no DNS lookup decides whether a token goes out in clear
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base(url: str) -> str:
    """The API address without a trailing slash, if a token may be sent there."""
    parts = urlsplit(url)
    if parts.hostname and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))):
        if parts.username or parts.password:
            raise UsageError(f"{parts.hostname}: put no credentials in the API address")
        return url.rstrip("/")
    raise UsageError(f"{url}: the API address must be https:// (a token never travels in clear text)")


def same_origin(a: str, b: str) -> bool:
    """False too for an address urlsplit cannot take apart (a port above 65535, a broken `[`):
    a server's next-page link is untrusted input."""
    try:
        pa, pb = urlsplit(a), urlsplit(b)
        return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)
    except ValueError:
        return False


def request(provider: str, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
            timeout: float, max_bytes: int = MAX_BYTES) -> Response:
    """Send one request and read the whole answer within `timeout` seconds in total."""
    parts = urlsplit(check_base(url))
    host = parts.hostname or ""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    conn = _connection(parts.scheme, host, parts.port, timeout)
    expired = threading.Event()
    # The socket, kept here once connected: with `Connection: close` (HTTP/1.0, say) http.client
    # hands it to the response and forgets it (conn.sock is None), and a watchdog looking at the
    # connection found nothing to cut while a server dribbled the body (issue 22).
    live: list[socket.socket] = []
    watchdog = threading.Timer(timeout, _cut, (live, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.connect()
        if conn.sock is not None:
            live.append(conn.sock)
        if expired.is_set():  # it fired while connecting, before there was a socket to cut
            raise TimeoutError
        conn.request(method, target, body=body, headers=dict(headers))
        resp = conn.getresponse()
        data = _read_capped(resp, provider, host, max_bytes)
        if expired.is_set() or time.monotonic() > deadline:
            raise TimeoutError
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    except NetworkError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise NetworkError(f"{provider}: {host}'s TLS certificate was not accepted ({exc.verify_message})",
                           hint="a proxy that intercepts TLS needs its CA in SSL_CERT_FILE") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set() or time.monotonic() >= deadline or isinstance(exc, TimeoutError):
            raise NetworkError(f"{provider}: no complete answer from {host} within {timeout:g} s",
                               hint="check the network, or --timeout for a slow server") from None
        raise NetworkError(f"{provider}: {host} did not give a valid HTTP answer ({_describe(exc)})",
                           hint="check the API address and the network") from None
    finally:
        watchdog.cancel()
        conn.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.BadStatusLine):
        return "not an HTTP status line"
    return getattr(exc, "strerror", None) or type(exc).__name__


def _cut(live: list[socket.socket], expired: threading.Event) -> None:
    """The deadline passed: make the blocked read in the other thread fail at once."""
    expired.set()
    for sock in list(live):
        # The plain socket's shutdown, also under TLS: the SSL object stays the reader thread's.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _read_capped(resp: http.client.HTTPResponse, provider: str, host: str, max_bytes: int) -> bytes:
    declared = resp.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise NetworkError(f"{provider}: {host} announced a {int(declared):,}-byte answer; refusing to read it "
                           f"(the limit is {max_bytes:,})", hint="check the API address")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = resp.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise NetworkError(f"{provider}: {host} sent more than {max_bytes:,} bytes; stopped reading",
                               hint="check the API address")
        chunks.append(chunk)


def _connection(scheme: str, host: str, port: int | None, timeout: float) -> http.client.HTTPConnection:
    if scheme == "http":  # loopback only (check_base): never through a proxy
        return http.client.HTTPConnection(host, port, timeout=timeout)
    context = ssl.create_default_context()
    proxy = None if urllib.request.proxy_bypass(host) else urllib.request.getproxies_environment().get("https")
    if not proxy:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    conn = http.client.HTTPSConnection(p.hostname or "", p.port or 8080, timeout=timeout, context=context)
    tunnel_headers = {}
    if p.username:
        creds = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
        tunnel_headers["Proxy-Authorization"] = "Basic " + base64.b64encode(creds).decode()
    conn.set_tunnel(host, port or 443, headers=tunnel_headers)
    return conn
