"""`onboard demo`: the whole unattended setup against a local sandbox server. No network, no root.

Everything happens in a temporary home that is removed afterwards: a real passphrase-
protected key, a pinned host key checked live, a known_hosts merge, a clone over SSH
through the private agent, and the Git properties Azure ML would record. It is the same
pipeline as `onboard setup`; only its hooks differ (they start the sandbox and pin it).
"""

from __future__ import annotations

import contextlib
import os
import secrets as token_source
import shutil
import tempfile
from pathlib import Path

from onboarding import keys, pipeline, proc
from onboarding import providers as prov
from onboarding.console import Console, Result
from onboarding.errors import UsageError
from onboarding.pipeline import Run
from onboarding.secrets import Secrets
from onboarding.settings import Settings

_DEMO_GIT = {"GIT_AUTHOR_NAME": "Demo", "GIT_AUTHOR_EMAIL": "demo@example.com", "GIT_COMMITTER_NAME": "Demo",
             "GIT_COMMITTER_EMAIL": "demo@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


def _git(*args: str, cwd: Path | None = None) -> None:
    done = proc.run(["git", *args], timeout=60, cwd=cwd, extra=_DEMO_GIT)
    if done.returncode != 0:
        raise UsageError(f"the demo could not prepare its repository: git {args[0]}: {done.err.strip()}")


def _demo_repo(root: Path) -> Path:
    work = root / "seed"
    work.mkdir()
    (work / "README.md").write_text("# demo\nA repository served by the onboard sandbox.\n")
    (work / "train.py").write_text("print('training')\n")
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "Initial commit", cwd=work)
    bare = root / "repos" / "demo.git"
    _git("clone", "-q", "--bare", str(work), str(bare))
    shutil.rmtree(work)
    return bare.parent


def _requirements() -> None:
    missing = [tool for tool in ("git", "ssh", "ssh-agent") if not proc.which(tool)]
    if missing:
        raise UsageError(f"the demo needs {', '.join(missing)}",
                         hint="apt-get install git openssh-client (no server is needed)")


class DemoHooks(pipeline.Hooks):
    """Unattended, with the sandbox as the only provider, started once the key exists."""

    next_steps = False

    def __init__(self, base: Path, repos: Path, stack: contextlib.ExitStack) -> None:
        self.base, self.repos, self.stack = base, repos, stack
        self.git_info: dict[str, str] = {}

    def providers(self, r: Run, key: keys.KeyResult) -> tuple[Run, list[prov.Provider]]:
        from onboarding.sandbox import running

        box = self.stack.enter_context(running(self.repos, key.public_line))
        r.console.info(f"(the sandbox server accepts exactly this key; a real provider needs it pasted at its "
                       f"add-key page)\n{key.public_line.strip()[:60]}...  {key.fingerprint}")
        pins = self.base / "sandbox-pins.toml"
        pins.write_text(f'[providers.sandbox]\ntitle = "Sandbox"\nhosts = ["[127.0.0.1]:{box.port}"]\n'
                        f'keys = ["{box.host_key_line}"]\n')
        r = r.with_settings(providers_file=pins, repos=(box.url("demo.git"),))
        r.console.step("2/4  Host keys: the live key must match the pin (never trust on first use)")
        return r, prov.select(r.catalogue, ["sandbox"])

    def show_key(self, r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> bool:
        return False

    def before_clone(self, r: Run) -> Run:
        r.console.step("3/4  Clone over SSH with the passphrase key, no terminal (a private ssh-agent)")
        return r

    def summarize(self, r: Run, summary: pipeline.Summary) -> None:
        """Step 4 before the summary, and no "what is left": this home is removed in a moment."""
        from onboarding import gitinfo
        from onboarding.pipeline.stages import print_summary

        if summary.clones:
            r.console.step("4/4  What Azure ML would record for a job submitted from the clone (onboard git-info)")
            self.git_info = gitinfo.properties(gitinfo.gather(Path(summary.clones[0].path)), "v2")
            r.console.table([(k, v) for k, v in self.git_info.items()], to_stderr=True)
        print_summary(r.console, summary, left=False)


def run(settings: Settings, console: Console) -> Result:
    _requirements()
    base = Path(tempfile.mkdtemp(prefix="onboard-demo-"))
    old_home = os.environ.get("HOME")
    try:
        home = base / "home"
        home.mkdir()
        os.environ["HOME"] = str(home)  # the whole demo (and git's and ssh's view of ~) is this throwaway home
        console.step(f"Demo: a throwaway home in {home}, a sandbox Git server on 127.0.0.1")
        return _run_demo(settings, console, base, home)
    finally:
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home
        shutil.rmtree(base, ignore_errors=True)


def _run_demo(settings: Settings, console: Console, base: Path, home: Path) -> Result:
    demo = Settings(json=settings.json, quiet=settings.quiet, verbose=settings.verbose, non_interactive=True,
                    local_root=home, providers=("sandbox",), key_type=settings.key_type, kdf_rounds=settings.kdf_rounds)
    # held in memory only: never argv, a file or the environment
    secret = token_source.token_urlsafe(18).encode()
    r = Run.start(demo, Secrets(secret), console)
    console.step("1/4  SSH key")
    with contextlib.ExitStack() as stack:
        hooks = DemoHooks(base, _demo_repo(base), stack)
        summary = pipeline.run(r, hooks)
    props = hooks.git_info
    console.ok(f"demo finished: key {'with' if summary.key and summary.key.encrypted else 'WITHOUT'} passphrase, "
               f"{summary.known_hosts_added} pinned host key(s), 1 clone; the throwaway home is removed now")
    console.para("next: run `onboard` (the wizard) to do the same for real in your own home: your key, the "
                 "providers' real host keys, your repositories. `onboard --help` lists every command.")
    return Result({**summary.as_json(), "git_info": props})
