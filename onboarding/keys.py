"""SSH key pairs with `cryptography`: generate, serialize (OpenSSH, bcrypt KDF), fingerprint, write.

The private key is written in OpenSSH's own format (aes256-ctr + bcrypt), readable by
ssh, ssh-keygen and paramiko, with the KDF rounds OpenSSH >= 9.4 uses by default.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from onboarding import fsutil
from onboarding.errors import ConflictError, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

KeyStatus = Literal["created", "reused", "replaced"]

DEFAULT_NAMES = {"rsa": "id_rsa", "ed25519": "id_ed25519"}
MIN_PASSPHRASE = 5  # as ssh-keygen: "Passphrase is too short (minimum five characters)"


@dataclass(frozen=True)
class KeyResult:
    path: Path
    public_path: Path
    public_line: str
    fingerprint: str
    key_type: str
    bits: int | None
    status: KeyStatus
    encrypted: bool
    backup: Path | None = None
    notes: tuple[str, ...] = ()


def fingerprint_of_blob(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob (the base64 field, decoded)."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def fingerprint_of_line(line: str) -> str:
    """Fingerprint of 'type base64 [comment]' (a .pub or known_hosts key field)."""
    parts = line.split()
    return fingerprint_of_blob(base64.b64decode(parts[1], validate=True))


MAX_COMMENT = 256


def check_comment(comment: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in comment):
        raise UsageError("the key comment (--email) must be one line without control characters")
    if len(comment) > MAX_COMMENT:
        raise UsageError(f"the key comment (--email) is {len(comment)} characters; at most {MAX_COMMENT}")
    try:
        comment.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that were not UTF-8 arrive as lone surrogates
        raise UsageError("the key comment (--email) is not valid UTF-8") from None
    return comment


def check_passphrase(passphrase: bytes) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(
            f"the passphrase is too short (minimum {MIN_PASSPHRASE} characters)",
            hint="choose a longer one, or pass --no-passphrase for a key without one",
        )
    return passphrase


def generate(key_type: str, bits: int) -> PrivateKeyTypes:
    if key_type == "ed25519":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return ed25519.Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_bytes(key: PrivateKeyTypes, passphrase: bytes | None, rounds: int) -> bytes:
    from cryptography.hazmat.primitives import serialization as ser

    encryption: ser.KeySerializationEncryption = ser.NoEncryption()
    if passphrase:
        encryption = ser.PrivateFormat.OpenSSH.encryption_builder().kdf_rounds(rounds).build(
            passphrase
        )
    return key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, encryption)


def public_line(key: PrivateKeyTypes, comment: str) -> str:
    from cryptography.hazmat.primitives import serialization as ser

    blob = key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH)
    return f"{blob.decode()} {comment}".rstrip() + "\n"


def describe(key: PrivateKeyTypes) -> tuple[str, int | None]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa", key.key_size
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519", None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa", key.curve.key_size
    return "other", None


# Keys this process already opened (or made), by file bytes and passphrase: setup checks the
# key, then the clone needs it again for the agent, and each opening costs a bcrypt KDF.
_OPENED: dict[tuple[bytes, bytes | None], tuple[PrivateKeyTypes, bool]] = {}


def load_private(path: Path, passphrase: bytes | None) -> tuple[PrivateKeyTypes, bool]:
    """Open an existing private key; return (key, encrypted). ConflictError when it won't open."""
    data = fsutil.read_bytes(path)
    if data is None:
        raise FileNotFoundError(path)
    if (data, passphrase) not in _OPENED:
        _OPENED[(data, passphrase)] = _open(path, data, passphrase)
    return _OPENED[(data, passphrase)]


def _open(path: Path, data: bytes, passphrase: bytes | None) -> tuple[PrivateKeyTypes, bool]:
    from cryptography.hazmat.primitives import serialization as ser

    # PEM (ssh-keygen -m PEM) has its own loader; both say "not encrypted" the same way
    pem = b"BEGIN OPENSSH PRIVATE KEY" not in data and b"PRIVATE KEY" in data
    load = ser.load_pem_private_key if pem else ser.load_ssh_private_key
    try:
        return load(data, passphrase or None), bool(passphrase)
    except TypeError as exc:
        if "not encrypted" in str(exc):
            return load(data, None), False
        raise ConflictError(
            f"{path} exists and is protected by a passphrase, but none was given",
            hint="give its passphrase to reuse it, or --force to replace it (the old pair is kept as a backup)",
        ) from None
    except ValueError:
        raise ConflictError(
            f"{path} exists but does not open with this passphrase (or is not a private key)",
            hint="give the right passphrase to reuse it, or --force to replace it "
            "(the old pair is moved to a timestamped backup)",
        ) from None


def is_encrypted(path: Path) -> bool:
    """Whether the private key at `path` needs a passphrase to open (read from its header only)."""
    data = fsutil.read_bytes(path) or b""
    if b"BEGIN OPENSSH PRIVATE KEY" not in data:
        return b"ENCRYPTED" in data  # PEM keys say "Proc-Type: 4,ENCRYPTED" or "ENCRYPTED PRIVATE KEY"
    body = b"".join(line for line in data.splitlines() if line and not line.startswith(b"-----"))
    try:
        raw = base64.b64decode(body)
    except (ValueError, TypeError):
        return False
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        return False
    n = int.from_bytes(raw[len(magic) : len(magic) + 4], "big")
    cipher = raw[len(magic) + 4 : len(magic) + 4 + n]
    return cipher != b"none"


def backup_pair(path: Path, pub: Path) -> Path:
    """Keep the old pair as <name>.bak-YYYYmmdd-HHMMSS[.pub]; return the backup's private path.

    The backup is a second link (or a copy), not a move: the old key stays at its path until
    the new one atomically replaces it, so a crash at any moment leaves a usable key there.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while os.path.lexists(backup) or os.path.lexists(str(backup) + ".pub"):
        n += 1
        backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
    for old, new in ((path, backup), (pub, Path(str(backup) + ".pub"))):
        if os.path.lexists(old):
            try:
                os.link(old, new)
            except OSError:  # no hard links on this file system
                import shutil

                shutil.copy2(old, new)
    return backup


@dataclass(frozen=True)
class KeyRequest:
    path: Path
    key_type: str
    bits: int
    comment: str
    passphrase: bytes | None
    rounds: int
    force: bool
    owner: fsutil.Owner
    pregenerated: PrivateKeyTypes | None = None  # made ahead (the wizard, while it asks); type and size checked


def ensure_key(req: KeyRequest) -> KeyResult:
    """Create the key pair, or reuse the one that is there; never overwrite silently."""
    check_comment(req.comment)
    fsutil.check_path_text(req.path, "the key file (--key-file)")
    if req.passphrase is not None:
        check_passphrase(req.passphrase)
    pub = Path(str(req.path) + ".pub")
    notes: list[str] = []
    note = fsutil.ensure_private_dir(req.path.parent, req.owner)
    if note:
        notes.append(note)
    for p in (req.path, pub):
        fsutil.check_replaceable(p)  # no symlink, no directory: only a regular file or nothing
    exists = os.path.lexists(req.path)
    if exists and not req.force:
        note = repair_public(req.path, pub, req.comment, req.owner)
        if note:
            notes.append(note)
        return _reuse(req, pub, notes)
    if not exists and os.path.lexists(pub) and not req.force:
        raise ConflictError(
            f"{pub} exists without its private key {req.path}",
            hint="move it away, or pass --force to keep it as a backup and create a new pair",
        )
    key = _fits(req) or generate(req.key_type, req.bits)
    line = public_line(key, req.comment)
    data = private_bytes(key, req.passphrase, req.rounds)
    _OPENED[(data, req.passphrase)] = (key, bool(req.passphrase))
    backup = None
    if req.force and (exists or os.path.lexists(pub)):
        backup = _force_pair(req, pub, data, line)
    else:
        _write_pair(req, pub, data, line)
    key_type, bits = describe(key)
    return KeyResult(
        req.path, pub, line, fingerprint_of_line(line), key_type, bits,
        "replaced" if backup else "created", bool(req.passphrase), backup, tuple(notes),
    )


def _fits(req: KeyRequest) -> PrivateKeyTypes | None:
    """The pregenerated key, when it is of the requested type and size."""
    want = (req.key_type, req.bits if req.key_type == "rsa" else None)
    return req.pregenerated if req.pregenerated is not None and describe(req.pregenerated) == want else None


def _force_pair(req: KeyRequest, pub: Path, data: bytes, line: str) -> Path:
    """--force: both new files complete on disk first, then backup links, then the two renames
    back to back. Two files cannot be swapped atomically: a kill between the renames leaves a
    new private key with the old .pub, which the next run repairs (`repair_public`)."""
    temps: list[Path] = []
    try:  # a failure here (full disk) changes nothing: no backup exists yet
        temps.append(fsutil.write_temp(req.path, data, mode=0o600, owner=req.owner))
        temps.append(fsutil.write_temp(pub, line.encode(), mode=0o644, owner=req.owner))
    except BaseException:
        for tmp in temps:
            fsutil.discard_temp(tmp)
        raise
    backup: Path | None = None
    had_private = os.path.lexists(req.path)  # False: --force on a lone .pub
    try:
        backup = backup_pair(req.path, pub)
        fsutil.commit_temp(temps[0], req.path)
        fsutil.commit_temp(temps[1], pub)
    except BaseException:
        for tmp in temps:
            fsutil.discard_temp(tmp)
        if backup is not None:
            restore_pair(backup, req.path, pub)
        if not had_private:  # the new private key may be in place already: it must not stay alone
            with contextlib.suppress(FileNotFoundError):
                os.unlink(req.path)
        raise
    fsutil.fsync_dir(req.path.parent)
    return backup


def _write_pair(req: KeyRequest, pub: Path, data: bytes, line: str) -> None:
    fsutil.write_new(req.path, data, mode=0o600, owner=req.owner)
    try:
        fsutil.write_new(pub, line.encode(), mode=0o644, owner=req.owner)
    except BaseException:
        os.unlink(req.path)  # no half pair: the private key alone would be reused next time
        raise


def restore_pair(backup: Path, path: Path, pub: Path) -> None:
    """Put the backed-up pair back (atomically per file) after a failed --force; no backup stays.

    rename() of a hard link onto another link of the same file does nothing (POSIX), so a
    backup that is still the file at `path` is unlinked instead.
    """
    for old, new in ((backup, path), (Path(str(backup) + ".pub"), pub)):
        if not os.path.lexists(old):
            continue
        if os.path.lexists(new) and os.path.samefile(old, new):
            os.unlink(old)
        else:
            os.replace(old, new)


def public_blob_of(data: bytes) -> bytes | None:
    """The public key blob an OpenSSH private key file carries unencrypted in its header
    (PROTOCOL.key: magic, cipher, kdf, kdf options, key count, then the public key), so it
    can be read without the passphrase. None for another format or a damaged file."""
    body = b"".join(ln.strip() for ln in data.splitlines() if ln.strip() and not ln.startswith(b"-----"))
    try:
        raw = base64.b64decode(body, validate=True)
    except (ValueError, TypeError):
        return None
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        return None
    pos = len(magic)
    for _ in range(3):  # cipher name, kdf name, kdf options
        if pos + 4 > len(raw):
            return None
        pos += 4 + int.from_bytes(raw[pos : pos + 4], "big")
    if raw[pos : pos + 4] != b"\0\0\0\1":  # exactly one key, as ssh-keygen writes
        return None
    pos += 4
    n = int.from_bytes(raw[pos : pos + 4], "big")
    blob = raw[pos + 4 : pos + 4 + n]
    return blob if len(blob) == n and n > 4 else None


def repair_public(path: Path, pub: Path, comment: str, owner: fsutil.Owner) -> str | None:
    """Rewrite `pub` from the public key inside the private key at `path` when they differ
    (a --force killed between its two renames leaves a new key with the old .pub).
    Returns a note when it repaired; the replaced .pub is kept beside it."""
    blob = public_blob_of(fsutil.read_bytes(path) or b"")
    if blob is None or not os.path.lexists(pub):
        return None
    old = fsutil.read_bytes(pub) or b""
    fields = old.split()
    key_type = blob[4 : 4 + int.from_bytes(blob[:4], "big")].decode(errors="replace")
    b64 = base64.b64encode(blob).decode()
    if fields[:2] == [key_type.encode(), b64.encode()]:
        return None
    text = old.decode(errors="replace").split(None, 2)
    kept_comment = text[2].strip() if len(text) > 2 and fields[:1] == [key_type.encode()] else comment
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stray = pub.with_name(f"{pub.name}.mismatched-{stamp}")
    n = 1
    while os.path.lexists(stray):  # a second repair within the same second keeps its own copy
        n += 1
        stray = pub.with_name(f"{pub.name}.mismatched-{stamp}-{n}")
    os.link(pub, stray)  # keep what we replace: never overwrite silently
    fsutil.replace_file(pub, f"{key_type} {b64} {kept_comment}".rstrip().encode() + b"\n",
                        default_mode=0o644, owner=owner)
    return f"rewrote {pub}: it did not match {path} (an interrupted --force?); the old one is {stray}"


def _reuse(req: KeyRequest, pub: Path, notes: list[str]) -> KeyResult:
    key, encrypted = load_private(req.path, req.passphrase)
    if not encrypted:
        notes.append(f"{req.path} has no passphrase; --force replaces it with one that has")
    line = public_line(key, req.comment)
    existing = pub.read_text(errors="replace") if os.path.lexists(pub) else None
    if existing is None:
        fsutil.write_new(pub, line.encode(), mode=0o644, owner=req.owner)
        notes.append(f"wrote the missing {pub}")
    elif existing.split()[:2] != line.split()[:2]:
        raise ConflictError(
            f"{pub} does not belong to {req.path}",
            hint="remove the stray .pub (ssh-keygen -y -f KEY > KEY.pub) or pass --force",
        )
    else:
        line = existing if existing.endswith("\n") else existing + "\n"
    key_type, bits = describe(key)
    return KeyResult(
        req.path, pub, line, fingerprint_of_line(line), key_type, bits, "reused",
        encrypted, None, tuple(notes),
    )
