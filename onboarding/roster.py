"""A team's roster (CSV) for `onboard rollout`: one compute instance per row, every row checked.

Every problem is collected, not just the first: a lead fixes the whole file in one go. A
problem names the line (as an editor counts it, the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

REQUIRED = ("instance", "user_object_id", "user_tenant_id")
OPTIONAL = ("size", "passphrase_keyvault")
MAX_ROWS = 800  # an ARM copy loop creates at most 800 resources

# Azure ML's compute name rule, as the studio's form and docs state it (how-to-create-compute-instance,
# MicrosoftDocs/azure-docs articles/machine-learning): 3 to 24 characters; letters, digits and "-";
# starts with a letter; a "-" must be followed by at least one letter later in the name (so no
# trailing hyphen, nor "ci-01"). azure-ai-ml itself checks nothing: the service refuses at creation.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{2,23}\Z")
_NO_LETTER_AFTER_HYPHEN = re.compile(r"-[^A-Za-z]*\Z")
_GUID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\Z")
# VM sizes are checked as text only (which sizes a region offers is an online question):
# Standard_DS3_v2, Standard_E4-2ds_v4 (constrained vCPU sizes carry a hyphen).
_SIZE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")


@dataclass(frozen=True)
class Member:
    line: int
    instance: str
    user_object_id: str
    user_tenant_id: str
    size: str
    passphrase_keyvault: str | None


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid compute instance name, or None."""
    if not 3 <= len(name) <= 24:
        return f"{name!r} has {len(name)} characters: a compute instance name has 3 to 24"
    if not _NAME.match(name):
        return f"{name!r}: use letters, digits and '-' only, starting with a letter"
    if _NO_LETTER_AFTER_HYPHEN.search(name):
        return f"{name!r}: Azure ML wants a letter somewhere after the last '-'"
    return None


def size_problem(size: str) -> str | None:
    if not _SIZE.match(size):
        return f"{size!r} is not a VM size name (e.g. Standard_DS3_v2)"
    return None


def parse(text: str, source: str, *, default_size: str,
          check_ref: Callable[[str], str | None]) -> tuple[list[Member], list[str]]:
    """The members of a roster and every problem found (the roster is usable only without problems).

    `check_ref` says what is wrong with a Key Vault reference (None when it is fine)."""
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [f"{source}: empty file; the first line names the columns: {', '.join(REQUIRED)}"]
    except csv.Error as exc:
        return [], [f"{source} line 1: {exc}"]
    problems += _header_problems(header, source)
    members: list[Member] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            member = _row(header, row, reader.line_num, source, default_size, check_ref, seen, problems)
            if member is not None:
                members.append(member)
    except csv.Error as exc:
        problems.append(f"{source} line {reader.line_num}: {exc}")
    if not members and not problems:
        problems.append(f"{source}: no rows: add one line per member under the header")
    if len(members) > MAX_ROWS:
        problems.append(f"{source}: {len(members)} rows; an ARM copy loop makes at most {MAX_ROWS}: split the roster")
    return members, problems


def _header_problems(header: list[str], source: str) -> list[str]:
    found = []
    for column in REQUIRED:
        if column not in header:
            found.append(f"{source} line 1: missing column {column!r} (the header needs {', '.join(REQUIRED)})")
    for column in header:
        if column not in REQUIRED + OPTIONAL:
            found.append(f"{source} line 1: unknown column {column!r} "
                         f"(known: {', '.join(REQUIRED + OPTIONAL)})")
    dupes = sorted({c for c in header if header.count(c) > 1})
    found += [f"{source} line 1: column {c!r} appears twice" for c in dupes]
    return found


def _row(header: list[str], row: list[str], line: int, source: str, default_size: str,
         check_ref: Callable[[str], str | None], seen: dict[str, int], problems: list[str]) -> Member | None:
    where = f"{source} line {line}"
    if len(row) != len(header):
        problems.append(f"{where}: {len(row)} fields, the header has {len(header)}")
        return None
    cells = {h: c.strip() for h, c in zip(header, row, strict=True)}
    before = len(problems)

    def bad(column: str, message: str) -> None:
        problems.append(f"{where}, column {column}: {message}")

    name = cells.get("instance", "")
    why = name_problem(name) if name else "empty"
    if why:
        bad("instance", why)
    elif name.lower() in seen:  # Azure resource names are case-insensitive
        bad("instance", f"{name!r} is also on line {seen[name.lower()]}: each instance needs its own name")
    else:
        seen[name.lower()] = line
    for column in ("user_object_id", "user_tenant_id"):
        value = cells.get(column, "")
        if column in header and not _GUID.match(value):
            bad(column, f"{value!r} is not a GUID (8-4-4-4-12 hexadecimal digits)" if value else "empty")
    size = cells.get("size") or default_size
    why = size_problem(size) if cells.get("size") else None  # the default (--size) is the command's to check
    if why:
        bad("size", why)
    ref = cells.get("passphrase_keyvault") or None
    why = check_ref(ref) if ref else None
    if why:
        bad("passphrase_keyvault", why)
    if len(problems) > before or any(c not in header for c in REQUIRED):
        return None
    return Member(line, name, cells["user_object_id"], cells["user_tenant_id"], size, ref)
