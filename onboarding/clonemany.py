"""Several clones at once: bounded threads, git's progress read per repository, clean-up per repository.

Each clone is `git clone --progress` with its stderr on a pipe of its own, so the lines
"Receiving objects:  45% (9/20)" of one repository never mix with another's; they are
parsed here and handed to a watcher (the console draws one line per repository). Every
git runs in its own process group: Ctrl-C on the terminal does not reach it, the main
thread does (`Cancel`), kills each group, and each worker removes what it created, as
`clone.run_clone` does for a single clone.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from onboarding import clone as cl
from onboarding import proc, repourl
from onboarding.errors import OnboardError

MAX_PARALLEL = 4  # git and ssh are cheap; the provider's rate limits and the disk are not
_PROGRESS = re.compile(r"^(?:remote: )?(?P<phase>[A-Z][A-Za-z ]*?):\s+(?P<pct>\d{1,3})%")
_NOISE = re.compile(r"^(?:Cloning into |remote: (?:Enumerating|Counting|Compressing|Total) )")
_KEEP_LINES, _MAX_LINE = 40, 4096  # a server that floods stderr cannot make us hold it all


@dataclass(frozen=True)
class Job:
    url: cl.RepoUrl
    dest: Path


class Watcher(Protocol):
    def started(self, index: int) -> None: ...

    def progress(self, index: int, phase: str, percent: int) -> None: ...

    def finished(self, index: int, error: OnboardError | None) -> None: ...


class Cancelled(Exception):
    """This clone was stopped because the run was interrupted."""


class Cancel:
    """Shared by the workers: once set, every running git is killed and none starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._children: set[proc.Popen[bytes]] = set()

    @property
    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            for child in self._children:
                proc.kill_group(child)

    def add(self, child: proc.Popen[bytes]) -> None:
        with self._lock:
            self._children.add(child)
            if self._set:  # interrupted between start and registration
                proc.kill_group(child)

    def discard(self, child: proc.Popen[bytes]) -> None:
        with self._lock:
            self._children.discard(child)


def read_progress(stream: IO[bytes], on_progress: Callable[[str, int], None]) -> str:
    """Read git's stderr to the end; report each "Phase: NN%" and return the other lines (git's
    and ssh's messages, for the error), the last few only."""
    kept: deque[str] = deque(maxlen=_KEEP_LINES)
    last: tuple[str, int] | None = None
    pending = b""
    fd = stream.fileno()
    while chunk := os.read(fd, 65536):
        *lines, pending = re.split(rb"[\r\n]", pending + chunk)
        pending = pending[-_MAX_LINE:]
        for raw in lines:
            last = _line(raw.decode(errors="replace")[:_MAX_LINE], kept, last, on_progress)
    _line(pending.decode(errors="replace"), kept, last, on_progress)
    return "\n".join(kept)


def _line(text: str, kept: deque[str], last: tuple[str, int] | None,
          on_progress: Callable[[str, int], None]) -> tuple[str, int] | None:
    text = text.strip()
    m = _PROGRESS.match(text)
    if m:
        now = (m["phase"], min(100, int(m["pct"])))
        if now != last:  # git repeats a percentage with a new count: one report per change
            on_progress(*now)
        return now
    if text and not _NOISE.match(text):
        kept.append(text)
    return last


def run_watched(job: Job, o: cl.SshOptions, *, branch: str | None, depth: int | None, cancel: Cancel,
                on_progress: Callable[[str, int], None]) -> None:
    """One clone with its progress parsed; on failure or cancel remove what it created."""
    if cancel.is_set:
        raise Cancelled
    created = not os.path.lexists(job.dest)
    parents = cl.make_parents(job.dest.parent)
    argv = cl.git_clone_argv(job.url, job.dest, branch=branch, depth=depth, progress=True)
    child = proc.start(argv, extra=cl.git_env(o), stdout=proc.DEVNULL, stderr=proc.PIPE, own_group=True)
    cancel.add(child)
    try:
        message = ""
        if child.stderr is not None:  # always: stderr=PIPE
            with child.stderr:
                message = read_progress(child.stderr, on_progress)
        returncode = child.wait()
    except BaseException:
        proc.kill_group(child)
        child.wait()
        cl.remove_created(job.dest, created, parents)
        raise
    finally:
        cancel.discard(child)
    if cancel.is_set or returncode != 0:
        cl.remove_created(job.dest, created, parents)
        if cancel.is_set:
            raise Cancelled
        raise cl.failure(returncode, message)


def clone_many(jobs: Sequence[Job], o: cl.SshOptions, *, branch: str | None, depth: int | None,
               watcher: Watcher, max_parallel: int = MAX_PARALLEL) -> list[OnboardError | None]:
    """Clone every job, `max_parallel` at a time; the outcome of each, in the jobs' order.
    One failure does not stop the others; an interrupt (KeyboardInterrupt in this thread)
    stops all, waits until each has removed what it created, and is raised again."""
    outcomes: list[OnboardError | None] = [None] * len(jobs)
    cancel = Cancel()

    def work(i: int) -> None:
        if cancel.is_set:
            return
        watcher.started(i)
        try:
            run_watched(jobs[i], o, branch=branch, depth=depth, cancel=cancel,
                        on_progress=lambda phase, pct: watcher.progress(i, phase, pct))
        except Cancelled:
            return
        except OnboardError as exc:
            outcomes[i] = exc
        except Exception as exc:  # a bug in one worker is that repository's failure, not a lost thread
            outcomes[i] = OnboardError(f"cloning {repourl.mask(jobs[i].url.text)} failed: {exc!r}")
        watcher.finished(i, outcomes[i])

    pool = ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(jobs))), thread_name_prefix="clone")
    try:
        pending = {pool.submit(work, i) for i in range(len(jobs))}
        while pending:  # short waits: the main thread stays where Ctrl-C and SIGTERM can reach it
            _, pending = wait(pending, timeout=0.2)
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes
