"""Watch every process of the machine while a command runs: secrets in argv/environment, agents."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


class ProcWatcher:
    """Samples each process's argv and environment; records hits of `needle` and the private
    agents (`ssh-agent -D -a .../onboard-agent-...`) seen, by pid."""

    def __init__(self, needle: str, agents_under: Path | None = None) -> None:
        """`agents_under`: count only agents whose socket is below it (the run's TMPDIR), so other
        runs on the machine (a parallel test session) are not counted."""
        self.needle = needle.encode()
        self.agents_under = str(agents_under).encode() if agents_under else b"onboard-agent-"
        self.hits: list[str] = []
        self.samples = 0
        self.agent_pids: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    self._sample(pid)
            self.samples += 1
            time.sleep(0.002)

    def _sample(self, pid: str) -> None:
        for part in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{part}").read_bytes()
            except OSError:
                continue
            if self.needle in data:
                self.hits.append(f"{pid}/{part}: {data[:80]!r}")
            if part == "cmdline" and data.startswith(b"ssh-agent\0-D") and b"onboard-agent-" in data \
                    and self.agents_under in data:
                self.agent_pids.add(pid)

    def __enter__(self) -> ProcWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
