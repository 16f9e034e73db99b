"""One answer to "is this the same repository?" for Git remote URLs.

`normalize` maps the spellings of one repository to one string, so that scp-like
(`git@host:org/app.git`), ssh (`ssh://git@host:22/org/app`) and http(s)
(`https://user:token@Host/org/app.git/`) forms compare equal: scheme, user name,
password or token, a default port, a trailing `/` and `.git` are dropped, the host is
lower-cased (DNS names are case-insensitive; paths are not, so they are kept). Azure
DevOps spells one repository two ways (`ssh.dev.azure.com:v3/ORG/PROJ/REPO` and
`dev.azure.com/ORG/PROJ/_git/REPO`, or the older `ORG.visualstudio.com`): they map to the
https form. A non-default port is kept (`host:2222/org/app`): it may be another server.
Used by git-info --job and by clone's "is this already our clone?" check.
"""

from __future__ import annotations

import re

_DEFAULT_PORTS = {"ssh": "22", "git+ssh": "22", "ssh+git": "22", "https": "443", "http": "80", "git": "9418"}
_URL_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/]*)(?P<path>/.*)?$")
# scp-like syntax: [user@]host:path, where no slash comes before the first colon (git's rule).
_SCP_RE = re.compile(r"^(?:(?P<user>[^@/]*)@)?(?P<host>\[[^\]]+\]|[^:/\[\]]+):(?P<path>.*)$")
_AZURE_SSH_RE = re.compile(r"^(?:ssh\.dev\.azure\.com|vs-ssh\.visualstudio\.com)/v3/([^/]+)/([^/]+)/([^/]+)$")
_AZURE_VS_RE = re.compile(r"^([a-z0-9-]+)\.visualstudio\.com/(?:defaultcollection/)?([^/]+)/_git/([^/]+)$",
                          re.IGNORECASE)


def normalize(url: str) -> str:
    """`host[:port]/path` without scheme, credentials, default port, trailing `/` or `.git`."""
    url = url.strip()
    m = _URL_RE.match(url)
    if m:
        scheme = m.group("scheme").lower()
        host_port = m.group("authority").rpartition("@")[2]  # drop user[:password]@
        host, port = _split_port(host_port)
        if port and port != _DEFAULT_PORTS.get(scheme):
            host = f"{host}:{port}"
        if scheme == "file":
            return "file://" + _trim(m.group("path") or "")
        return _azure(f"{host}/{_trim((m.group('path') or '').lstrip('/'))}")
    m = _SCP_RE.match(url)
    if m and not _looks_local(url):
        return _azure(f"{m.group('host').lower()}/{_trim(m.group('path').lstrip('/'))}")
    return _trim(url)  # a local path or something git alone understands: compare as written


def _split_port(host_port: str) -> tuple[str, str]:
    if host_port.startswith("["):  # [IPv6]:port
        host, _, rest = host_port.partition("]")
        return (host + "]").lower(), rest.lstrip(":")
    host, _, port = host_port.partition(":")
    return host.lower(), port


def _trim(path: str) -> str:
    path = path.rstrip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    return path.rstrip("/")


def _looks_local(url: str) -> bool:
    # git treats "./a:b" and "/a:b" as paths, and a one-letter "host" would be a Windows drive.
    return url.startswith(("/", "./", "../", "~")) or re.match(r"^[A-Za-z]:", url) is not None


def _azure(normal: str) -> str:
    """Azure DevOps: the ssh and the legacy visualstudio.com spellings become the https one."""
    m = _AZURE_SSH_RE.match(normal)
    if m:
        return f"dev.azure.com/{m.group(1)}/{m.group(2)}/_git/{m.group(3)}"
    m = _AZURE_VS_RE.match(normal)
    if m:
        return f"dev.azure.com/{m.group(1)}/{m.group(2)}/_git/{m.group(3)}"
    return normal


# user[:password]@ after a scheme. A password, or any user part of http(s) (where it is a
# token), is a secret; ssh's `git@` is a login name and is shown as is.
_USERINFO_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@]+)@", re.IGNORECASE)


def mask(text: str) -> str:
    """`text` with a URL's credentials as `***` (what every human output and git-info --job's
    result show); anything else unchanged."""
    m = _USERINFO_RE.match(text.lstrip())
    if not m or (":" not in m["user"] and not m["scheme"].lower().startswith("http")):
        return text
    start = len(text) - len(text.lstrip())
    return text[:start] + m["scheme"] + "***@" + text.lstrip()[m.end():]
