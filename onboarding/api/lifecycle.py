"""keys list and prune: what is on each account, which one is ours here, what may go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from onboarding.api import KeyClient, RemoteKey
from onboarding.errors import OnboardError


@dataclass(frozen=True)
class ListedKey:
    provider: str
    key: RemoteKey
    current: bool  # the local key
    ours: bool  # registered by onboard (title prefix), for this or another instance
    age_days: int | None

    def as_json(self) -> dict[str, object]:
        return {"provider": self.provider, "id": self.key.id, "title": self.key.title, "key": self.key.key,
                "created": self.key.created.isoformat() if self.key.created else None,
                "age_days": self.age_days, "current": self.current, "onboard": self.ours,
                "usage": self.key.usage}


def classify(provider: str, keys: Sequence[RemoteKey], local_lines: Sequence[str], now: datetime) -> list[ListedKey]:
    """`local_lines`: every local key's public line; a remote key with one of their blobs is current."""
    return [ListedKey(provider, k, any(k.same(line) for line in local_lines if line), k.ours,
                      (now - k.created).days if k.created else None) for k in keys]


def prunable(listed: Sequence[ListedKey], older_than_days: int) -> list[ListedKey]:
    """onboard's keys for other instances, older than the limit; never the current one, never an unknown age."""
    return [k for k in listed if k.ours and not k.current and k.age_days is not None
            and k.age_days >= older_than_days]


@dataclass(frozen=True)
class Removal:
    listed: ListedKey
    error: str | None  # None: removed


def remove(c: KeyClient, keys: Sequence[ListedKey]) -> list[Removal]:
    """Delete each key; a failure is recorded and the rest still go."""
    out = []
    for k in keys:
        try:
            c.delete_key(k.key)
            out.append(Removal(k, None))
        except OnboardError as exc:
            out.append(Removal(k, exc.message))
    return out
